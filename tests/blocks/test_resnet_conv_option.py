"""block/resnet ``conv=``: Make-A-Video's pseudo-3-D res-block equals the image res-block at init (docs/papers.md §6.1)."""

from __future__ import annotations

import pytest
import torch

import components
from components.conv.pseudo3d import PseudoConv3d


TINY = dict(in_channels=8, out_channels=16, emb_dim=12, num_groups=4)


def _pseudo3d_from_default(default: torch.nn.Module, **kwargs) -> torch.nn.Module:
    """A ``conv="conv/pseudo3d"`` block holding ``default``'s weights: the 1×3×3 kernels become the 2-D convs."""
    block = components.build("block/resnet", **{**TINY, **kwargs}, conv="conv/pseudo3d")
    state = block.state_dict()
    for name, value in default.state_dict().items():
        if name.split(".")[0] in ("conv1", "conv2"):
            conv, param = name.split(".")
            state[f"{conv}.spatial.{param}"] = value.squeeze(2) if param == "weight" else value
        else:
            state[name] = value
    block.load_state_dict(state, strict=True)
    return block


@pytest.mark.parametrize("frames", [1, 2, 5])
@pytest.mark.parametrize("scale_shift", [True, False])
def test_pseudo3d_resnet_equals_the_image_resnet_with_the_same_2d_weights_at_init(frames, scale_shift):
    torch.manual_seed(0)
    default = components.build("block/resnet", **TINY, scale_shift=scale_shift).eval()
    pseudo = _pseudo3d_from_default(default, scale_shift=scale_shift).eval()
    x = torch.randn(2, 8, frames, 6, 6, generator=torch.Generator().manual_seed(1))
    emb = torch.randn(2, 12, generator=torch.Generator().manual_seed(2))
    with torch.no_grad():
        torch.testing.assert_close(pseudo(x, emb), default(x, emb), rtol=1e-5, atol=1e-5)


def test_pseudo3d_resnet_convs_are_pseudo3d_and_the_rest_keeps_its_names():
    default = components.build("block/resnet", **TINY)
    pseudo = components.build("block/resnet", **TINY, conv="conv/pseudo3d")
    assert isinstance(pseudo.conv1, PseudoConv3d) and isinstance(pseudo.conv2, PseudoConv3d)
    assert pseudo.conv1.temporal.weight.shape == (16, 16, 3)
    renamed = {n.replace(".spatial.", ".") for n in pseudo.state_dict() if ".temporal." not in n}
    assert renamed == set(default.state_dict())


def test_pseudo3d_resnet_mixes_frames_once_its_temporal_convs_train():
    torch.manual_seed(0)
    block = components.build("block/resnet", **TINY, conv="conv/pseudo3d").eval()
    with torch.no_grad():
        block.conv2.temporal.weight.add_(0.1)
        x, emb = torch.randn(1, 8, 3, 4, 4), torch.randn(1, 12)
        y = block(x, emb)
        x2 = x.clone()
        x2[:, :, 2] += 1.0
        assert not torch.allclose(block(x2, emb)[:, :, 1], y[:, :, 1])  # frame 2 reaches frame 1


def test_default_resnet_convs_are_still_space_only_3d():
    block = components.build("block/resnet", **TINY)
    assert type(block.conv1).__name__ == "SpaceOnlyConv3d" and block.conv1.weight.shape == (16, 8, 1, 3, 3)


def test_make_a_video_video_stages_use_pseudo3d_res_blocks_and_sr_h_stays_per_frame():
    import zoo
    from components.blocks.resnet import ResnetBlock

    for name, pseudo in [("make_a_video", True), ("make_a_video_sr_l", True), ("make_a_video_sr_h", False)]:
        blocks = [m for m in zoo.create_model(name, "paper", device="meta").modules() if isinstance(m, ResnetBlock)]
        assert blocks and all(isinstance(b.conv1, PseudoConv3d) == pseudo and b.temporal is None for b in blocks)
