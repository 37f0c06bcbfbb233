"""The FCN-score segmenter (models/segmenter.py) as a model of the one training loop: a photo in, the label
map's class indices as the target, cross-entropy. The loop reads the pairs with the label map on the input
side (A) and the photo as B, so the step swaps them; the random resize-and-crop and flips come from the
dataset as for pix2pix, and a mild brightness, contrast and saturation jitter on the photo alone makes the
judge robust to the colour casts of generated photos."""

from __future__ import annotations

import json

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ..errors import DataError
from ..palette import FACADES, Palette, colors, label_indices
from ..segmenter import SegmenterConfig, save_segmenter, segmenter_from_config
from .base import GANModel, eval_mode
from .common import SEGMENTER_NETS, Dist, TrainOptions
from .pix2pix import generator_config
from .runfolder import G_FILE

JITTER = 0.2  # brightness, contrast and saturation factors drawn from [1 - JITTER, 1 + JITTER]


def label_direction(data: str, holdout: int = 0) -> str:
    """The --direction that puts the dataset's label maps on the input side (facades: BtoA)."""
    from ..data import guess_input_kind

    for direction in ("AtoB", "BtoA"):
        if guess_input_kind(data, direction, holdout) == "labels":
            return direction
    raise DataError(f"{data}: neither side holds label maps on the facades palette; a segmenter needs them")


def label_targets(label_maps: torch.Tensor, palette: Palette = FACADES) -> torch.Tensor:
    """(N, 3, H, W) label maps in [-1, 1] -> int64 (N, H, W) indices of the nearest palette colours."""
    rgb = ((label_maps.detach().float().cpu().clamp(-1, 1) + 1) * 127.5).round().byte()
    return torch.stack([torch.from_numpy(label_indices(m.permute(1, 2, 0).numpy(), palette)) for m in rgb])


def jitter(photos: torch.Tensor, amount: float = JITTER) -> torch.Tensor:
    """Random brightness, contrast and saturation per photo ((N, 3, H, W) in [-1, 1]), from torch's RNG."""
    b, c, s = (1 + (torch.rand(3, photos.shape[0], 1, 1, 1) * 2 - 1) * amount).to(photos.device).unbind(0)
    x = ((photos + 1) / 2 * b).clamp(0, 1)
    mean = _gray(x).mean((2, 3), keepdim=True)
    x = ((x - mean) * c + mean).clamp(0, 1)
    gray = _gray(x)
    return ((x - gray) * s + gray).clamp(0, 1) * 2 - 1


def _gray(x: torch.Tensor) -> torch.Tensor:
    return 0.299 * x[:, 0:1] + 0.587 * x[:, 1:2] + 0.114 * x[:, 2:3]


class Segmentation(GANModel):
    """One net (`S`), one Adam, cross-entropy; batch {"A": label maps (N, 3, H, W), "B": photos} in [-1, 1]."""

    loss_names = ("CE",)

    def __init__(
        self,
        opts: TrainOptions,
        input_nc: int = 3,
        output_nc: int = 3,
        *,
        device: torch.device | str = "cpu",
        dist: Dist = Dist(),
        palette: Palette = FACADES,
        pretrained: bool = True,
    ):
        """`pretrained`: load `opts.pretrained`'s ImageNet weights into the encoder (a resume does not:
        its state has the weights)."""
        super().__init__(opts, torch.device(device), dist)
        if opts.input_kind != "labels" or input_nc != 3 or output_nc != 3:
            raise DataError(
                "--model segmenter needs colour label maps on one side and colour photos on the other "
                f"(the input side here holds {opts.input_kind or 'unknown'} images)"
            )
        self.palette = palette
        if opts.netG in SEGMENTER_NETS:
            cfg = SegmenterConfig(arch=opts.netG, output_nc=len(palette), ngf=opts.ngf)
        else:
            cfg = generator_config(opts, 3, len(palette))
        net = segmenter_from_config(cfg, init_type=opts.init_type, init_gain=opts.init_gain)
        self.encoder_init = None  # where the encoder's ImageNet weights came from, for the header
        if opts.pretrained and pretrained:
            from ..backbone import imagenet_state

            state, self.encoder_init = imagenet_state(opts.pretrained)
            net.load_imagenet(state)
        self.S = self.place(net)
        self.S_train = self.wrap(self.S)
        self.nets = {"S": self.S}
        self.optimizers = {"S": self.adam(self.S)}
        self.colors = torch.from_numpy(colors(palette).astype(np.float32) / 127.5 - 1)  # (K, 3) in [-1, 1]

    def step(self, batch: dict) -> dict[str, float]:
        target = label_targets(batch["A"], self.palette).to(self.device)
        photo = self.to_device(jitter(batch["B"].float()))
        opt = self.optimizers["S"]
        opt.zero_grad(set_to_none=True)
        with self.autocast():
            logits = self.S_train(photo)
        loss = F.cross_entropy(logits.float(), target)
        self.backward(loss, opt)
        self.end_step()
        return {"CE": loss.detach().float().item()}

    def state_dict(self) -> dict:
        return {**super().state_dict(), "encoder_init": json.dumps(self.encoder_init)}

    def load_state_dict(self, state: dict) -> None:
        super().load_state_dict(state)
        self.encoder_init = json.loads(state.get("encoder_init") or "null")

    def predict(self, photos: torch.Tensor) -> torch.Tensor:
        """Class indices (N, H, W) for photos, with running statistics, training state untouched."""
        with eval_mode(self.S):
            return self.S(self.to_device(photos)).float().argmax(1).cpu()

    def paint(self, indices: torch.Tensor) -> torch.Tensor:
        """(H, W) class indices -> (3, H, W) palette colours in [-1, 1]."""
        return self.colors[indices].permute(2, 0, 1)

    def sample_rows(self, batch: dict) -> list[list[torch.Tensor]]:
        pred = self.predict(batch["B"])
        return [[b, self.paint(p), a] for b, p, a in zip(batch["B"], pred, batch["A"], strict=True)]

    def val_metrics(self, batches: list[dict]) -> dict[str, float]:
        """Pixel accuracy, and the mean over the classes present of each class's accuracy (FCN-score's)."""
        k = len(self.palette)
        hits, counts = torch.zeros(k), torch.zeros(k)
        for batch in batches:
            target = label_targets(batch["A"], self.palette).flatten()
            pred = self.predict(batch["B"]).flatten()
            counts += torch.bincount(target, minlength=k).float()
            hits += torch.bincount(target[pred == target], minlength=k).float()
        present = counts > 0
        return {
            "pixel_acc": round(float(hits.sum() / counts.sum().clamp(min=1)), 5),
            "class_acc": round(float((hits[present] / counts[present]).mean()) if present.any() else 0.0, 5),
        }

    def generator_meta(self, name: str, meta: dict) -> dict:
        """The segmenter's header: a photo in, classes out; not a drawing model."""
        what = f"FCN-score segmenter: photo to {len(self.palette)} label classes (for evaluation only)"
        extra = {"encoder_init": {**self.encoder_init, "weights": "ImageNet"}} if self.encoder_init else {}
        return {
            **meta,
            **extra,
            "input_kind": "image",
            "palette": [[n, list(rgb)] for n, rgb in self.palette],
            "description": f"{what}; {meta['description']}" if meta.get("description") else what,
        }

    def save_file(self, path, net: nn.Module, meta: dict):
        """Checkpoints are segmenter files (`load_segmenter` reads them), fp32 while training."""
        return save_segmenter(path, net, meta, half=False)

    def generators(self) -> dict[str, nn.Module]:
        return {G_FILE: self.S}
