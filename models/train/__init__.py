"""Training: pix2pix, CycleGAN and DCGAN trainers sharing one loop (run folder, resume, DDP, logging).

from models.train import TrainOptions, Trainer
Trainer.create(TrainOptions(model="pix2pix", data="facades", out="runs/f", direction="BtoA")).run()
Trainer.resume("runs/f").run()
"""

from .common import TrainOptions, make_options
from .loop import Trainer

__all__ = ["TrainOptions", "Trainer", "make_options"]
