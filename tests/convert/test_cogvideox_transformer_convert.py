"""zoo.from_diffusers(CogVideoXTransformer3DModel): tiny random CogVideoX 2B-style (sin-cos positions), 5B-style
(rotary positions by the pipeline's resize-crop rule) and 1.5-style (temporal patch 2, integer rotary positions)
transformers convert to ``net/cogvideox_transformer`` and agree with diffusers to 1e-4 in fp32; the rename table runs
both ways; the published sizes have diffusers' parameter counts.

Error budget: the same fp32 ops on both sides except the attention kernel call and the position tables (ours from
fp64 positions and angles, diffusers' fp32): a few fp32 ulps per layer on O(1) activations. Measured on CPU
(torch 2.x, diffusers 0.42.1): ≤ 2e-6 for all three.
"""

from __future__ import annotations

import pytest
import torch

import zoo
from components.nets.cogvideox import COGVIDEOX_SIZES
from zoo.convert.cogvideox_transformer import cogvideox_to_diffusers_state_dict, cogvideox_transformer_config


diffusers = pytest.importorskip("diffusers")
from diffusers.models.embeddings import get_3d_rotary_pos_embed  # noqa: E402
from diffusers.pipelines.cogvideo.pipeline_cogvideox import get_resize_crop_region_for_grid  # noqa: E402


# diffusers' own test sizes (tests/models/transformers/test_models_transformer_cogvideox.py) with a head of 16 (the
# rotary split needs a multiple of 16) and a training grid other than the test grid, so the crop rule matters
BASE = dict(num_attention_heads=2, attention_head_dim=16, in_channels=4, out_channels=4, time_embed_dim=8,
            text_embed_dim=8, num_layers=2, sample_width=6, sample_height=8, sample_frames=9, patch_size=2,
            temporal_compression_ratio=4, max_text_seq_length=5)
CONFIGS = {
    "2b": BASE,
    "5b": {**BASE, "use_rotary_positional_embeddings": True},
    # 1.5 slices its tables from a max grid (sample size / patch) that must hold the test grid
    "1.5": {**BASE, "use_rotary_positional_embeddings": True, "patch_size_t": 2, "sample_width": 12},
}
FRAMES = {"2b": 3, "5b": 3, "1.5": 4}


def _rope(cfg: dict, frames: int, h: int, w: int):
    """diffusers' pipeline tables (``CogVideoXPipeline._prepare_rotary_positional_embeddings``) for a latent video."""
    p, p_t = cfg["patch_size"], cfg.get("patch_size_t")
    grid = (h // p, w // p)
    base_w, base_h = cfg["sample_width"] // p, cfg["sample_height"] // p
    if p_t is None:
        crops = get_resize_crop_region_for_grid(grid, base_w, base_h)
        return get_3d_rotary_pos_embed(cfg["attention_head_dim"], crops, grid, frames)
    return get_3d_rotary_pos_embed(cfg["attention_head_dim"], None, grid, frames // p_t, grid_type="slice",
                                   max_size=(base_h, base_w))


@pytest.fixture(scope="module", params=sorted(CONFIGS))
def case(request):
    name = request.param
    torch.manual_seed(0)
    cfg = CONFIGS[name]
    ref = diffusers.CogVideoXTransformer3DModel(**cfg).eval()
    with torch.no_grad():  # off the init, so every weight (zero gates, unit norms) is exercised
        for p in ref.parameters():
            p.add_(0.05 * torch.randn_like(p))
    g = torch.Generator().manual_seed(1)
    x = torch.randn(2, 4, FRAMES[name], 6, 10, generator=g)  # a (T, 3, 5) token grid: another aspect than 4 × 3
    text = torch.randn(2, 5, 8, generator=g)
    return name, ref, zoo.from_diffusers(ref), x, torch.tensor([3, 701]), text


def test_converted_cogvideox_transformer_matches_diffusers(case):
    name, ref, ours, x, t, text = case
    cfg = CONFIGS[name]
    assert sum(p.numel() for p in ours.parameters()) == sum(p.numel() for p in ref.parameters())
    rope = _rope(cfg, x.shape[2], *x.shape[3:]) if cfg.get("use_rotary_positional_embeddings") else None
    with torch.no_grad():
        expected = ref(hidden_states=x.transpose(1, 2), encoder_hidden_states=text, timestep=t,
                       image_rotary_emb=rope).sample.transpose(1, 2)
        out = ours(x, t, context=text)
    assert out.shape == expected.shape == x.shape
    torch.testing.assert_close(out, expected, atol=1e-4, rtol=1e-4)


def test_cogvideox_state_dict_round_trips_into_diffusers(case):
    name, ref, ours, *_ = case
    state = cogvideox_to_diffusers_state_dict(ours, ref)
    for key, value in ref.state_dict().items():
        torch.testing.assert_close(state[key], value, atol=0, rtol=0)


def test_ours_takes_any_text_length_where_diffusers_2b_needs_226(case):
    name, ref, ours, x, t, _ = case
    with torch.no_grad():
        assert ours(x, t, context=torch.randn(2, 9, 8)).shape == x.shape


@pytest.mark.parametrize("size,heads,layers,rope", [("cogvideox_2b", 30, 30, False), ("cogvideox_5b", 48, 42, True)])
def test_published_sizes_have_diffusers_parameter_counts(size, heads, layers, rope):
    import components

    with torch.device("meta"):
        ref = diffusers.CogVideoXTransformer3DModel(num_attention_heads=heads, num_layers=layers,
                                                    use_rotary_positional_embeddings=rope)
    ours = components.build("net/cogvideox_transformer", **COGVIDEOX_SIZES[size], device="meta")
    assert sum(p.numel() for p in ours.parameters()) == sum(p.numel() for p in ref.parameters())
    assert cogvideox_transformer_config(ref.config) == {**COGVIDEOX_SIZES[size], "out_channels": 16,
                                                        "sincos_scales": (1.0, 1.875), "norm_eps": 1e-5}


def test_unsupported_config_is_refused_naming_the_field():
    with pytest.raises(ValueError, match="ofs_embed_dim"):
        cogvideox_transformer_config({**BASE, "ofs_embed_dim": 8})


@pytest.mark.parametrize("variant,recipe", [("2b", "cogvideox_2b"), ("5b", "cogvideox_5b")])
def test_tiny_diffusers_pipeline_converts_to_the_tiny_preset(variant, recipe):
    """zoo/testing/tiny_cogvideox.py's pipeline parts are the tiny presets' modules (configs equal, weights load)."""
    from zoo.testing.tiny_cogvideox import tiny_cogvideox_pipeline

    pipe = tiny_cogvideox_pipeline(variant)
    net, vae = zoo.from_diffusers(pipe.transformer), zoo.from_diffusers(pipe.vae)
    r = zoo.get_recipe(recipe)
    preset = r.preset("tiny")
    def plain(config):  # to_config() records tuples as lists
        return {k: list(v) if isinstance(v, tuple) else v for k, v in config.items()}

    assert plain({k: v for k, v in net.to_config().items() if k in preset.config}) == plain(preset.config)
    tiny_vae = r.autoencoder.for_preset("tiny").config
    assert plain({k: v for k, v in vae.to_config().items() if k in tiny_vae}) == plain(tiny_vae)
    g = torch.Generator().manual_seed(0)
    x, text = torch.randn(1, 4, 3, 4, 4, generator=g), torch.randn(1, 226, 32, generator=g)
    rope = _rope({**BASE, **{k: pipe.transformer.config[k] for k in ("sample_width", "sample_height",
                                                                     "attention_head_dim", "patch_size")},
                  "patch_size_t": None}, 3, 4, 4) if variant == "5b" else None
    with torch.no_grad():
        expected = pipe.transformer(hidden_states=x.transpose(1, 2), encoder_hidden_states=text,
                                    timestep=torch.tensor([500]), image_rotary_emb=rope).sample.transpose(1, 2)
        torch.testing.assert_close(net(x, torch.tensor([500]), context=text), expected, atol=1e-4, rtol=1e-4)
