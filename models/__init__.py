"""Sketchpad's engine: pix2pix and CycleGAN in plain PyTorch. Never imports Qt or sketchpad."""

from .checkpoint import Checkpoint, load_checkpoint, save_checkpoint
from .discriminator import DiscriminatorConfig, build_discriminator
from .errors import CheckpointError, DataError, ImageError, SketchpadError
from .generator import GeneratorConfig, build_generator, config_for

__all__ = [
    "Checkpoint",
    "CheckpointError",
    "DataError",
    "ImageError",
    "SketchpadError",
    "DiscriminatorConfig",
    "GeneratorConfig",
    "build_discriminator",
    "build_generator",
    "config_for",
    "load_checkpoint",
    "save_checkpoint",
]
