"""The touchscreen (Kivy). The only package that imports Kivy; it talks to the engine through
its commands and observers, re-posted onto the Kivy thread."""
