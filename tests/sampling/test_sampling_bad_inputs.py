"""Every sampling technique refuses bad input with a ValueError that names the argument."""

from __future__ import annotations

import pytest
import torch

import components
from components.diffusion._video import toy_video_denoiser


X, SIGMA = torch.zeros(2, 3, 4, 2, 2), torch.ones(2)
KNOWN = torch.zeros(2, 3, 4, 2, 2)
FRAMES = torch.tensor([True, True, False, False]).reshape(1, 1, 4, 1, 1)


def reconstruction(**kw):
    return components.build("wrapper/reconstruction", denoiser=toy_video_denoiser, weight=2.0, **kw)


@pytest.mark.parametrize(("call", "match"), [
    (lambda: reconstruction()(X, SIGMA, known=KNOWN, mask=torch.ones(1, 1, 3, 1, 1, dtype=torch.bool)),
     "mask of shape"),
    (lambda: reconstruction()(X, SIGMA, known=KNOWN, mask=FRAMES.float()), "mask must be a boolean"),
    (lambda: reconstruction()(X, SIGMA, known=KNOWN[:, :, :3], mask=FRAMES), "known must have the shape"),
    (lambda: reconstruction()(X, SIGMA), "known and mask are needed"),
    (lambda: components.build("wrapper/replacement")(X, SIGMA, known=KNOWN, mask=FRAMES), "no denoiser bound"),
    (lambda: reconstruction(downsample="bilinear")(X, SIGMA, known=torch.zeros(2, 3, 4, 1, 1),
                                                   mask=torch.ones(1, 1, 1, 1, 2, dtype=torch.bool)), "mask of shape"),
    (lambda: reconstruction(downsample=lambda v: v[:, :, :2])(X, SIGMA, known=torch.zeros(2, 3, 4, 1, 1),
                                                               mask=torch.ones(1, 1, 1, 1, 1, dtype=torch.bool)),
     "downsample maps the prediction"),
    (lambda: components.build("wrapper/multidiffusion", denoiser=toy_video_denoiser, window=5, stride=2)(X, SIGMA),
     "window=5 is larger than the sample's T=4"),
    (lambda: components.build("wrapper/multidiffusion", denoiser=toy_video_denoiser, window=2, stride=1)(
        X, SIGMA, concat=torch.zeros(2, 1, 3, 2, 2)), "concat is a 5-D video with 3 frames"),
    (lambda: components.build("wrapper/interleaved_smoother", denoiser=toy_video_denoiser, interpolator="rife"),
     "interpolator must be 'linear' or a callable"),
    (lambda: components.build("sampler/hierarchical", clip_length=1), "clip_length must be >= 2"),
    (lambda: components.build("wrapper/masked_conditioning", denoiser=toy_video_denoiser, known=KNOWN,
                              mask=torch.ones(1, 2, 4, 1, 1, dtype=torch.bool))(X, SIGMA), "mask must have one channel"),
])
def test_bad_input_raises_value_error_naming_the_argument(call, match):
    with pytest.raises(ValueError, match=match):
        call()
