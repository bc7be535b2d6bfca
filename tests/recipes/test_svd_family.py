"""SVD / SVD-XT / Video LDM recipes: exact parameter counts (meta device), sampling defaults, tiny forward and sampling,
the video autoencoder's counts, and the temporal layers' identity at init."""

from __future__ import annotations

import pytest
import torch

import components
import zoo
from zoo.recipes import svd, video_ldm


def _temporal_count(model, names) -> int:
    return sum(p.numel() for n, p in model.named_parameters() if any(s in f".{n}" for s in names))


def test_svd_unet_has_exactly_the_diffusers_parameter_count_and_temporal_part():
    model = zoo.create_model("svd", "paper", device="meta")
    assert sum(p.numel() for p in model.parameters()) == 1_524_623_082
    # temporal part = temporal res-blocks, temporal transformer layers, frame embedding, every merge (docs/papers.md §15)
    assert _temporal_count(model, svd.TEMPORAL_PARAMETER_NAMES) == 656_076_838
    assert zoo.count_parameters("svd_xt", "paper") == 1_524_623_082


def test_video_ldm_temporal_layers_match_the_papers_656m_and_649m():
    for preset, published, exact in (("paper", 656e6, 656_076_838), ("sd14", 649e6, 649_687_078)):
        temporal = zoo.count_parameters("video_ldm", preset, trainable_only=True)  # only temporal layers train
        assert temporal == exact and abs(temporal - published) / published < 0.02
        model = zoo.create_model("video_ldm", preset, device="meta")
        assert _temporal_count(model, svd.TEMPORAL_PARAMETER_NAMES) == exact
    # spatial part = the SD U-Net (SD 2.1 865,910,724; SD 1.x 859,520,964)
    assert zoo.count_parameters("video_ldm", "paper") == 865_910_724 + 656_076_838
    assert zoo.count_parameters("video_ldm", "sd14") == 859_520_964 + 649_687_078


def test_video_autoencoder_counts_match_svd_and_sd_vaes():
    with torch.device("meta"):
        temporal = components.build("net/video_autoencoder", **video_ldm.TEMPORAL_DECODER)
        image = components.build("net/video_autoencoder", **video_ldm.IMAGE_AUTOENCODER)
    count = lambda m: sum(p.numel() for p in m.parameters())  # noqa: E731
    assert count(temporal) == video_ldm.TEMPORAL_DECODER_PARAMS == 97_742_847
    assert count(temporal.encoder) == 34_163_592 and count(temporal.decoder) == 63_579_183
    assert count(image) == video_ldm.IMAGE_AUTOENCODER_PARAMS == 83_653_863


def test_svd_sampling_defaults_follow_the_official_configs():
    s, xt = zoo.get_recipe("svd").sampling_for("paper"), zoo.get_recipe("svd_xt").sampling_for("paper")
    assert (s.parameterization, s.sampler, s.steps) == ("preconditioning/edm_v", "sampler/euler", 25)
    assert s.schedule == "schedule/edm" and s.schedule_kwargs["sigma_max"] == 700.0
    assert s.guidance == "guidance/cfg_per_frame" and dict(s.guidance_kwargs) == {"min_scale": 1.0, "max_scale": 2.5}
    assert xt.steps == 30 and dict(xt.guidance_kwargs) == {"min_scale": 1.5, "max_scale": 3.0}
    assert s.uncond_keep == ("added_cond",)
    assert zoo.get_recipe("svd").preset("paper").frames == 14 and zoo.get_recipe("svd_xt").preset("paper").frames == 25


def _svd_cond(batch: int, frames: int, context_dim: int = 16):
    return dict(context=torch.randn(batch, 1, context_dim),
                added_cond=torch.tensor([[6.0, 127.0, 0.02]]).repeat(batch, 1))


def test_svd_tiny_takes_8_channel_x_and_predicts_4():
    torch.manual_seed(0)
    model = zoo.create_model("svd", "tiny").eval()
    x = torch.randn(2, 8, 3, 8, 8)  # 4 noisy latents + 4 conditioning-image latents
    with torch.no_grad():
        out = model(x, torch.tensor([0.2, -0.4]), **_svd_cond(2, 3))
    assert out.shape == (2, 4, 3, 8, 8) and torch.isfinite(out).all()


def test_svd_pipeline_samples_three_frames():
    pipe = zoo.create_pipeline("svd", "tiny")  # svd_xt: the same network and pipeline, other sampling numbers
    video = pipe(num_frames=3, num_inference_steps=2, seed=0, concat=torch.randn(1, 4, 3, 8, 8), **_svd_cond(1, 3))
    assert video.shape == (1, 4, 3, 8, 8) and torch.isfinite(video).all()
    assert pipe.null_condition(_svd_cond(1, 3))["added_cond"][0, 1] == 127.0  # micro-conditioning kept


def test_svd_pipeline_asks_for_the_conditioning_latents():
    with pytest.raises(ValueError, match="concat of shape"):
        zoo.create_pipeline("svd", "tiny")(num_frames=3, num_inference_steps=2, seed=0, **_svd_cond(1, 3))


@pytest.mark.parametrize("preset,cond", [("tiny", {}), ("tiny_prediction", {"concat": torch.randn(1, 5, 3, 8, 8)})])
def test_video_ldm_pipelines_sample_three_frames(preset, cond):
    video = zoo.create_pipeline("video_ldm", preset)(num_frames=3, num_inference_steps=2, seed=0, context=torch.randn(1, 2, 8),
                                                     **cond)
    assert video.shape == (1, 4, 3, 8, 8) and torch.isfinite(video).all()


def test_video_ldm_starts_as_the_image_model_on_every_frame():
    """Temporal layers are the identity at init, so each frame is denoised as if alone (T = 1)."""
    torch.manual_seed(0)
    model = zoo.create_model("video_ldm", "tiny").eval()
    x, ctx, t = torch.randn(1, 4, 3, 8, 8), torch.randn(1, 2, 8), torch.tensor([500])
    with torch.no_grad():
        video = model(x, t, context=ctx)
        frames = torch.cat([model(x[:, :, i : i + 1], t, context=ctx) for i in range(3)], dim=2)
    torch.testing.assert_close(video, frames, atol=1e-5, rtol=1e-5)


def test_video_autoencoder_round_trip_shapes_and_image_frames():
    torch.manual_seed(0)
    vae = components.build("net/video_autoencoder", base_channels=8, channel_mults=(1, 2), num_res_blocks=1,
                           num_groups=4).eval()
    x = torch.randn(1, 3, 3, 8, 8)
    with torch.no_grad():
        z = vae.encode(x)
        assert z.shape == (1, 4, 3, 4, 4)
        assert vae.decode(z).shape == x.shape and vae.decode(z[:, :, :1]).shape == (1, 3, 1, 8, 8)


def test_describe_svd_breaks_counts_down_by_component():
    text = zoo.describe_model("svd")
    assert "1,524,623,082" in text and "components (paper)" in text
    for part in ("embed", "down", "mid", "up"):
        assert f"    {part} " in text
