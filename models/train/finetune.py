"""What a fine-tune trains: the --init checkpoint's own generator, whatever --netG, --ngf, --num-downs,
--norm or --no-dropout say. The trainer, the options' check and the app's recipe all ask here."""

from __future__ import annotations

import os
from typing import Any

from ..checkpoint import Checkpoint, arch_from_header, read_header
from ..errors import CheckpointError
from ..generator import GeneratorConfig


def finetune_arch(init: Checkpoint | dict[str, Any] | str | os.PathLike) -> GeneratorConfig | None:
    """The generator a fine-tune from `init` trains: the checkpoint's own. `init` is a loaded Checkpoint
    (a reference .pth's architecture is read from its keys), or a checkpoint's header or path, read without
    its weights; None where those do not say (a .pth, an unreadable header, one without an architecture:
    the load reports what is wrong)."""
    if isinstance(init, Checkpoint):
        return init.config
    if not isinstance(init, dict):
        if not str(init).endswith(".safetensors"):
            return None
        try:
            init = read_header(init)
        except CheckpointError:
            return None
    if not isinstance(init.get("arch"), dict):
        return None
    try:
        return arch_from_header(init["arch"])
    except CheckpointError:
        return None
