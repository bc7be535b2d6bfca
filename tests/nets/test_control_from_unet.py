"""ControlNet built from the U-Net's encoder (``ControlBranch`` = ``SpaceTimeUNet(decoder=False)`` + zero convs):
every U-Net option works under control, the branch starts as the U-Net's encoder and changes nothing at init."""

from __future__ import annotations

import pytest
import torch

import components
from components.nets import ControlBranch, ControlledUNet


TINY = dict(in_channels=4, base_channels=16, channel_mults=(1, 2), num_res_blocks=1, attention_levels=(1,),
            head_dim=8, num_groups=4, temporal="attention", zero_init_output=False)
OPTIONS = {
    "plain": {},
    "temporal down-sampling": dict(temporal="both", temporal_down_levels=(0,)),
    "concat channels": dict(concat_channels=3),
    "stem block": dict(stem_block="block/modelscope_temporal_transformer",
                       stem_block_kwargs={"num_heads": 2, "head_dim": 8, "num_groups": 4}),
    "class and added conditioning": dict(num_classes=5, added_cond_dim=6),
    "text context": dict(context_dim=8),
}
EMBED = (4, 8)  # control map at 2x the latent size


def _cond(cfg, batch=2, frames=4, size=8, generator=None):
    g = generator or torch.Generator().manual_seed(1)
    cond = {}
    if cfg.get("concat_channels"):
        cond["concat"] = torch.randn(batch, cfg["concat_channels"], frames, size, size, generator=g)
    if cfg.get("num_classes"):
        cond["class_labels"] = torch.tensor([1, 3])
    if cfg.get("added_cond_dim"):
        cond["added_cond"] = torch.randn(batch, cfg["added_cond_dim"], generator=g)
    if cfg.get("context_dim"):
        cond["context"] = torch.randn(batch, 3, cfg["context_dim"], generator=g)
    return cond


@pytest.mark.parametrize("option", list(OPTIONS))
def test_every_unet_option_works_under_control(option):
    cfg = {**TINY, **OPTIONS[option]}
    torch.manual_seed(0)
    unet = components.build("net/space_time_unet", **cfg).eval()
    branch = ControlBranch.from_unet(unet, control_channels=3, control_embedding_channels=EMBED).eval()
    # the branch starts as the U-Net's encoder: same names, same weights
    enc = {k: v for k, v in unet.state_dict().items() if k.split(".")[0] in ("embed", "conv_in", "stem", "down", "mid")}
    own = branch.state_dict()
    assert enc and all(torch.equal(own[k], v) for k, v in enc.items())
    extra = {k for k in own if k not in enc}
    assert {k.split(".")[0] for k in extra} == {"cond_embed", "zero_convs", "mid_zero_conv"}
    g = torch.Generator().manual_seed(2)
    x, t = torch.randn(2, 4, 4, 8, 8, generator=g), torch.rand(2, generator=g)
    control = torch.randn(2, 3, 4, 16, 16, generator=g)
    cond = _cond(cfg)
    with torch.no_grad():
        plain = unet(x, t, **cond)
        residuals = branch(x, t, control=control, **cond)
        assert len(residuals) == len(unet.skip_channels) + 1
        torch.testing.assert_close(unet(x, t, control_residuals=residuals, **cond), plain, rtol=0, atol=0)
        # with the zero convs opened, the control map steers the output
        for conv in (*branch.zero_convs, branch.mid_zero_conv, branch.cond_embed.conv_out):
            torch.nn.init.normal_(conv.weight, std=0.05)
        steered = unet(x, t, control_residuals=branch(x, t, control=control, **cond), **cond)
        other = unet(x, t, control_residuals=branch(x, t, control=-control, **cond), **cond)
    assert (steered - plain).abs().max() > 1e-3 and (steered - other).abs().max() > 1e-4


def test_controlled_unet_takes_the_options_the_old_branch_refused():
    cfg = {**TINY, "concat_channels": 3, "added_cond_dim": 6, "temporal": "both", "temporal_down_levels": (0,)}
    model = ControlledUNet(control_channels=3, control_embedding_channels=EMBED, **cfg).eval()
    g = torch.Generator().manual_seed(0)
    x, t = torch.randn(2, 4, 4, 8, 8, generator=g), torch.rand(2, generator=g)
    cond = _cond(cfg)
    with torch.no_grad():
        out = model(x, t, control=torch.randn(2, 3, 4, 16, 16, generator=g), **cond)
        torch.testing.assert_close(out, model.unet(x, t, **cond), rtol=0, atol=0)  # zero-initialised branch
    # parameters: the U-Net, plus its encoder once more, plus ControlNet's own layers
    unet_params = sum(p.numel() for p in model.unet.parameters())
    encoder = sum(p.numel() for n, p in model.unet.named_parameters()
                  if n.split(".")[0] in ("embed", "conv_in", "stem", "down", "mid"))
    own = sum(p.numel() for n, p in model.control.named_parameters()
              if n.split(".")[0] in ("cond_embed", "zero_convs", "mid_zero_conv"))
    assert sum(p.numel() for p in model.parameters()) == unet_params + encoder + own


def test_an_encoder_alone_refuses_forward_and_a_mismatched_unet_is_named():
    encoder = components.build("net/space_time_unet", **TINY, decoder=False)
    assert not hasattr(encoder, "up")
    with pytest.raises(ValueError, match="decoder=False"):
        encoder(torch.zeros(1, 4, 2, 8, 8), torch.zeros(1))
    branch = ControlBranch(control_embedding_channels=EMBED, **TINY)
    wider = components.build("net/space_time_unet", **{**TINY, "base_channels": 32})
    with pytest.raises(ValueError, match="does not match this branch"):
        branch.copy_encoder_from(wider)
