"""Sketchpad: draw, and see your drawing translated live (pix2pix / CycleGAN)."""

__version__ = "0.1.0"
