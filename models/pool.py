"""CycleGAN's history of generated images: the discriminators see a mix of this step's fakes and older
ones (Shrivastava et al.), which steadies training."""

from __future__ import annotations

import random

import torch


class ImagePool:
    """Holds up to `size` past fakes. `query(images)` returns as many images, each either the new one or,
    with probability 1/2 once the pool is full, a stored one (which the new image then replaces)."""

    def __init__(self, size: int = 50, seed: int = 0):
        self.size = size
        self.images: list[torch.Tensor] = []
        self.rng = random.Random(seed)

    def query(self, images: torch.Tensor) -> torch.Tensor:
        if self.size == 0:
            return images
        out = []
        for image in images.detach():
            image = image.unsqueeze(0)
            if len(self.images) < self.size:
                self.images.append(image.clone())
                out.append(image)
            elif self.rng.random() > 0.5:
                i = self.rng.randrange(self.size)
                out.append(self.images[i].clone())
                self.images[i] = image.clone()
            else:
                out.append(image)
        return torch.cat(out, 0)

    def state_dict(self) -> dict:
        """Plain tensors and ints, loadable with torch.load(weights_only=True)."""
        version, internal, gauss = self.rng.getstate()
        return {
            "images": torch.cat(self.images, 0).cpu() if self.images else torch.empty(0),
            "rng": torch.tensor(internal, dtype=torch.int64),
            "rng_version": version,
        }

    def load_state_dict(self, state: dict, device: torch.device | str = "cpu") -> None:
        imgs = state["images"]
        self.images = [imgs[i : i + 1].to(device) for i in range(imgs.shape[0])] if imgs.numel() else []
        self.rng.setstate((int(state["rng_version"]), tuple(int(x) for x in state["rng"].tolist()), None))
