"""Image encoders for captioning: a picture in, a grid of feature vectors out.

Every encoder maps ``images (N, 3, S, S)`` (normalised, `rnnkit.data.images`) to the feature map
of its last convolutional layer, ``(N, C, h, w)``, and says its ``out_channels`` ``C``. The
captioner attends over the ``h * w`` grid positions (Xu et al. 2015 use the last conv layer
for the same reason: each position describes one region of the image).

* ``small`` (`SmallCNN`): blocks of ``conv 3x3 -> BatchNorm -> ReLU -> max-pool 2x2``, one per
  entry of ``channels``, trained from scratch; the grid is ``S / 2^blocks`` (8 x 8 for 64-pixel
  images and three blocks).
* ``resnet18`` / ``resnet34`` (`ResNet`, He et al. 2016): torchvision's architecture without the
  final pooling and ``fc`` layer, with exactly torchvision's parameter and buffer names
  (``conv1``, ``bn1``, ``layer1.0.conv1``, ..., ``layer4.1.bn2``, ``layer2.0.downsample.0`` and
  ``.1``), so the weights file of a torchvision model loads (`load_encoder_weights`; its ``fc.*``
  keys are dropped). ``C = 512``; the grid is ``S / 32`` (7 x 7 at 224 pixels). torchvision
  itself is not needed.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from rnnkit.errors import UserError

RESNET_LAYERS = {"resnet18": (2, 2, 2, 2), "resnet34": (3, 4, 6, 3)}  # BasicBlocks per stage
ENCODERS = ("small", *RESNET_LAYERS)
DROPPED_PREFIX = "fc."  # torchvision's classifier, which captioning does not use


class SmallCNN(nn.Module):
    """``conv 3x3 (no bias) -> BatchNorm -> ReLU -> max-pool 2x2`` per entry of ``channels``.

    Shapes: ``(N, 3, S, S) -> (N, channels[-1], S / 2^B, S / 2^B)`` for ``B = len(channels)``.
    """

    def __init__(self, channels: Sequence[int] = (32, 64, 128)) -> None:
        super().__init__()
        if not channels:
            raise ValueError("the small encoder needs at least one block")
        sizes = [3, *channels]
        self.blocks = nn.Sequential(
            *(
                nn.Sequential(
                    nn.Conv2d(c_in, c_out, 3, padding=1, bias=False),
                    nn.BatchNorm2d(c_out),
                    nn.ReLU(inplace=True),
                    nn.MaxPool2d(2),
                )
                for c_in, c_out in itertools.pairwise(sizes)
            )
        )
        self.out_channels = channels[-1]

    def forward(self, images: Tensor) -> Tensor:
        return self.blocks(images)


class BasicBlock(nn.Module):
    """torchvision's ResNet block: ``relu(bn2(conv2(relu(bn1(conv1(x))))) + shortcut(x))``, the
    shortcut a strided ``1x1 conv -> BatchNorm`` (``downsample``) where the shape changes."""

    def __init__(self, in_channels: int, channels: int, stride: int = 1) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, channels, 3, stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(channels)
        self.relu = nn.ReLU(inplace=True)
        self.conv2 = nn.Conv2d(channels, channels, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(channels)
        self.downsample: nn.Sequential | None = None
        if stride != 1 or in_channels != channels:
            self.downsample = nn.Sequential(
                nn.Conv2d(in_channels, channels, 1, stride, bias=False), nn.BatchNorm2d(channels)
            )

    def forward(self, x: Tensor) -> Tensor:
        shortcut = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return self.relu(out + shortcut)


class ResNet(nn.Module):
    """ResNet-18 / 34 up to ``layer4`` (see the module docstring).

    Shapes: ``(N, 3, S, S) -> (N, 512, ceil(S / 32), ceil(S / 32))``.
    """

    def __init__(self, layers: Sequence[int]) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(3, 64, 7, stride=2, padding=3, bias=False)
        self.bn1 = nn.BatchNorm2d(64)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(3, stride=2, padding=1)
        widths, stages, channels = (64, 128, 256, 512), [], 64
        for index, (width, blocks) in enumerate(zip(widths, layers, strict=True)):
            stride = 1 if index == 0 else 2
            stage = [BasicBlock(channels, width, stride)]
            stage += [BasicBlock(width, width) for _ in range(blocks - 1)]
            stages.append(nn.Sequential(*stage))
            channels = width
        self.layer1, self.layer2, self.layer3, self.layer4 = stages
        self.out_channels = channels
        for module in self.modules():  # torchvision's initialisation
            if isinstance(module, nn.Conv2d):
                nn.init.kaiming_normal_(module.weight, mode="fan_out", nonlinearity="relu")

    def forward(self, images: Tensor) -> Tensor:
        x = self.maxpool(self.relu(self.bn1(self.conv1(images))))  # (N, 64, S/4, S/4)
        return self.layer4(self.layer3(self.layer2(self.layer1(x))))  # (N, 512, S/32, S/32)


def build_image_encoder(name: str, channels: Sequence[int] = (32, 64, 128)) -> nn.Module:
    """The encoder ``name`` (``small``, ``resnet18`` or ``resnet34``); ``channels`` are the
    small encoder's blocks."""
    if name == "small":
        return SmallCNN(channels)
    if name in RESNET_LAYERS:
        return ResNet(RESNET_LAYERS[name])
    raise UserError(f"model.encoder: unknown encoder {name!r}; choose one of {', '.join(ENCODERS)}")


def load_encoder_weights(encoder: nn.Module, path: str | Path) -> None:
    """Load a weights file into ``encoder``: a state dict saved by ``torch.save`` (read with
    ``weights_only=True``) or a ``.safetensors`` file, e.g. a torchvision ResNet's. Keys of its
    ``fc`` classifier are dropped; every other key must match (else a `UserError` listing a few
    missing and unexpected ones), and so must every shape."""
    state = {k: v for k, v in _read_state_dict(Path(path)).items() if not k.startswith("fc.")}
    try:
        missing, unexpected = encoder.load_state_dict(state, strict=False)
    except RuntimeError as error:  # a shape mismatch
        reason = str(error).strip().splitlines()[-1].strip()
        raise UserError(f"the weights do not fit the encoder: {reason}", path=path) from None
    problems = [
        f"{label} {_few(keys)}"
        for label, keys in (("missing keys", missing), ("unexpected keys", unexpected))
        if keys
    ]
    if problems:
        raise UserError(f"the weights do not fit the encoder: {'; '.join(problems)}", path=path)


def _read_state_dict(path: Path) -> Mapping[str, Tensor]:
    """The tensors of a ``.safetensors`` file or of a state dict saved with ``torch.save``."""
    if not path.is_file():
        raise UserError("model.encoder_weights: no such file", path=path)
    try:
        if path.suffix == ".safetensors":
            from safetensors.torch import load_file

            return load_file(path)
        state: Any = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # torch and safetensors raise many kinds for a bad file
        reason = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise UserError(f"cannot read the encoder weights: {reason}", path=path) from None
    if not isinstance(state, Mapping) or not all(isinstance(v, Tensor) for v in state.values()):
        raise UserError("expected a state dict (parameter name -> tensor)", path=path)
    return state


def _few(keys: Sequence[str], limit: int = 5) -> str:
    """The first ``limit`` of ``keys``, and how many more there are."""
    more = f" and {len(keys) - limit} more" if len(keys) > limit else ""
    return ", ".join(sorted(keys)[:limit]) + more
