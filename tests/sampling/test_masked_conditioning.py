"""Video LDM / Make-A-Video masked conditioning: the concat input [known · mask, mask] and context guidance
f′ = f(z) + s (f(z; c_S) − f(z))."""

from __future__ import annotations

import pytest
import torch

import components
from components.diffusion import mask_channels


def recording_denoiser(calls):
    def den(x, sigma, concat):
        calls.append(concat)
        return 0.5 * x + concat[:, :-1] + concat[:, -1:]

    return den


def inputs():
    g = torch.Generator().manual_seed(0)
    x, known = torch.randn(2, 3, 4, 2, 2, generator=g), torch.randn(2, 3, 4, 2, 2, generator=g)
    mask = torch.tensor([True, False, False, True]).reshape(1, 1, 4, 1, 1)
    return x, known, mask


def test_mask_channels_layout():
    _, known, mask = inputs()
    c = mask_channels(known, mask)
    assert c.shape == (2, 4, 4, 2, 2)
    torch.testing.assert_close(c[:, :3], known * mask)
    torch.testing.assert_close(c[:, 3:], mask.float().expand(2, 1, 4, 2, 2))


def test_scale_one_is_the_conditional_model():
    x, known, mask = inputs()
    calls = []
    out = components.build("wrapper/masked_conditioning", denoiser=recording_denoiser(calls), known=known,
                           mask=mask)(x, torch.ones(2))
    torch.testing.assert_close(calls[0], mask_channels(known, mask))
    torch.testing.assert_close(out, 0.5 * x + known * mask + mask.float())


@pytest.mark.parametrize("scale", [0.0, 2.0, 3.5])
def test_context_guidance(scale):
    x, known, mask = inputs()
    den = recording_denoiser([])
    cond = den(x, None, concat=mask_channels(known, mask))
    uncond = den(x, None, concat=torch.zeros(2, 4, 4, 2, 2))
    out = components.build("wrapper/masked_conditioning", denoiser=den, known=known, mask=mask,
                           scale=scale)(x, torch.ones(2))
    torch.testing.assert_close(out, uncond + scale * (cond - uncond))


def test_with_a_concat_unet():
    torch.manual_seed(0)
    tiny = dict(components.get_component("net/space_time_unet").tiny)
    net = components.build("net/space_time_unet", **{**tiny, "concat_channels": tiny.get("in_channels", 3) + 1}).eval()
    den = components.build("denoiser/vp", model=net, schedule="schedule/cosine", parameterization="eps")
    c = tiny.get("in_channels", 3)
    x, known = torch.randn(1, c, 4, 8, 8), torch.randn(1, c, 4, 8, 8)
    mask = torch.tensor([True, True, False, False]).reshape(1, 1, 4, 1, 1)
    guided = components.build("wrapper/masked_conditioning", denoiser=den, known=known, mask=mask, scale=1.5)
    with torch.no_grad():
        out = components.build("sampler/ddim")(guided, x * 10, torch.tensor([10.0, 1.0, 0.0]))
    assert out.shape == x.shape and torch.isfinite(out).all()


def test_bad_inputs_name_the_argument():
    x, known, mask = inputs()
    g = components.build("wrapper/masked_conditioning", denoiser=recording_denoiser([]), known=known)
    with pytest.raises(ValueError, match="mask of shape"):
        g(x, torch.ones(2), mask=torch.ones(1, 1, 3, 1, 1, dtype=torch.bool))
    with pytest.raises(ValueError, match="built by the wrapper"):
        g(x, torch.ones(2), mask=mask, concat=torch.zeros(2, 4, 4, 2, 2))
    with pytest.raises(ValueError, match="known must have the shape"):
        g(x, torch.ones(2), mask=mask, known=known[:, :, :3])
