"""Image encoders: the small CNN's grid, and ResNets with torchvision's names and sizes whose
weight files load (``fc.*`` dropped) or are refused with the keys that do not fit."""

from __future__ import annotations

import pytest
import torch
from safetensors.torch import save_file

from conftest import raised
from rnnkit.models.image_encoder import ResNet, build_image_encoder, load_encoder_weights

# torchvision's documented sizes, less its classifier fc (512 x 1000 weights + 1000 biases)
FC = 512 * 1000 + 1000
TORCHVISION_PARAMETERS = {"resnet18": 11_689_512 - FC, "resnet34": 21_797_672 - FC}


pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def resnet18() -> ResNet:
    encoder = build_image_encoder("resnet18")
    assert isinstance(encoder, ResNet)
    return encoder


def test_small_cnn_gives_a_grid_of_features():
    encoder = build_image_encoder("small", [8, 16, 24])
    assert encoder(torch.randn(2, 3, 64, 64)).shape == (2, 24, 8, 8)
    assert encoder.out_channels == 24


@pytest.mark.parametrize("name", ["resnet18", "resnet34"])
def test_resnet_parameter_count_is_torchvisions_without_fc(name):
    encoder = build_image_encoder(name)
    assert sum(p.numel() for p in encoder.parameters()) == TORCHVISION_PARAMETERS[name]


def test_resnet18_has_torchvisions_keys_and_a_512_channel_grid(resnet18):
    keys = list(resnet18.state_dict())
    assert len(keys) == 120  # torchvision's 122 less fc.weight and fc.bias
    assert keys[:6] == [
        "conv1.weight",
        "bn1.weight",
        "bn1.bias",
        "bn1.running_mean",
        "bn1.running_var",
        "bn1.num_batches_tracked",
    ]
    assert keys[-1] == "layer4.1.bn2.num_batches_tracked"
    for key in ("layer1.0.conv2.weight", "layer2.0.downsample.0.weight", "layer3.1.bn1.bias"):
        assert key in keys
    assert {k.split(".downsample")[0] for k in keys if "downsample" in k} == {
        "layer2.0",
        "layer3.0",
        "layer4.0",
    }
    assert resnet18.eval()(torch.randn(1, 3, 64, 64)).shape == (1, 512, 2, 2)


def test_a_torchvision_weights_file_loads_with_its_fc_dropped(resnet18, tmp_path):
    state = {k: torch.randn_like(v.float()).to(v.dtype) for k, v in resnet18.state_dict().items()}
    saved = {**state, "fc.weight": torch.randn(1000, 512), "fc.bias": torch.randn(1000)}
    torch.save(saved, tmp_path / "resnet18.pth")
    save_file(saved, tmp_path / "resnet18.safetensors")
    for name in ("resnet18.pth", "resnet18.safetensors"):
        fresh = build_image_encoder("resnet18")
        load_encoder_weights(fresh, tmp_path / name)
        loaded = fresh.state_dict()
        assert all(torch.equal(loaded[k], state[k]) for k in state)


def test_weights_that_do_not_fit_are_errors_listing_keys(resnet18, tmp_path):
    state = dict(resnet18.state_dict())
    state["layer1.0.conv9.weight"] = state.pop("layer1.0.conv1.weight")
    torch.save(state, tmp_path / "renamed.pt")
    message = raised(lambda: load_encoder_weights(resnet18, tmp_path / "renamed.pt"))
    assert message == (
        f"{tmp_path / 'renamed.pt'}: the weights do not fit the encoder: missing keys "
        "layer1.0.conv1.weight; unexpected keys layer1.0.conv9.weight"
    )
    small = build_image_encoder("small", [8])
    message = raised(lambda: load_encoder_weights(small, tmp_path / "renamed.pt"))
    assert (
        "missing keys blocks.0.0.weight, blocks.0.1.bias" in message and "and 115 more" in message
    )
    wrong_shape = {k: v for k, v in small.state_dict().items()}
    wrong_shape["blocks.0.0.weight"] = torch.zeros(4, 3, 3, 3)
    torch.save(wrong_shape, tmp_path / "shape.pt")
    assert "size mismatch" in raised(lambda: load_encoder_weights(small, tmp_path / "shape.pt"))


def test_files_that_are_not_state_dicts_are_refused(tmp_path):
    small = build_image_encoder("small", [8])
    torch.save({"weights": [1, 2]}, tmp_path / "list.pt")
    assert "expected a state dict" in raised(
        lambda: load_encoder_weights(small, tmp_path / "list.pt")
    )
    torch.save({"net": small}, tmp_path / "pickled.pt")  # a module: weights_only refuses it
    message = raised(lambda: load_encoder_weights(small, tmp_path / "pickled.pt"))
    assert message.startswith(f"{tmp_path / 'pickled.pt'}: cannot read the encoder weights")
    assert "no such file" in raised(lambda: load_encoder_weights(small, tmp_path / "none.pt"))
    assert "choose one of small, resnet18, resnet34" in raised(lambda: build_image_encoder("vgg16"))
