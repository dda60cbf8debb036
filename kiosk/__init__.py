"""The hot-desk kiosk: makes the desk phone beside a touchscreen the signed-in agent's phone."""

__version__ = "0.1.0"
