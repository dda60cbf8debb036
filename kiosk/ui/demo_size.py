"""The demo window's size, importable before Kivy is configured."""

DEMO_SIZE = (1120, 560)
