"""The attention backend and the frame-wise swap are configuration: set on a built model, recorded in its config,
rebuilt from it (``components.attention.set_attention_backend``, ``swap_spatial_attention``, the nets' and blocks'
``attention_backend`` / ``frame_attention`` keywords)."""

from __future__ import annotations

import inspect

import pytest
import torch

import components
import zoo
from components.attention import (
    MultiHeadAttention,
    SpatialAttention,
    attention_backends_of,
    backend_names,
    override_attention_backend,
    set_attention_backend,
    swap_spatial_attention,
    use_cross_frame_attention,
)
from zoo.recipe import network_config


RECIPES = zoo.list_models(stages=True)


def _tiny(key: str, **overrides) -> torch.nn.Module:
    torch.manual_seed(0)
    return components.build(key, **{**components.get_component(key).tiny, **overrides}).eval()


def _rebuilt(model: torch.nn.Module) -> torch.nn.Module:
    """``build(config_of(model))`` with ``model``'s weights (strict: the same parameter names)."""
    copy = components.build(components.config_of(model)).eval()
    copy.load_state_dict(model.state_dict())
    return copy


def _unet_inputs(key: str = "net/space_time_unet"):
    entry = components.get_component(key)
    return entry.inputs(entry.tiny, frames=3, batch=2, generator=torch.Generator().manual_seed(1))


def _kinds(model: torch.nn.Module) -> list[str]:
    return [type(m).__name__ for m in model.modules() if isinstance(m, MultiHeadAttention)]


# ---------------------------------------------------------------- the backend on a built model
def test_set_attention_backend_pins_every_module_and_records_it():
    net = _tiny("net/space_time_unet")
    assert attention_backends_of(net) == {"auto"}
    assert components.config_of(net)["attention_backend"] is None
    assert set_attention_backend(net, "math") is net
    assert attention_backends_of(net) == {"math"}
    assert components.config_of(net)["attention_backend"] == "math"
    # the blocks and attention modules inside record it too, so any of them rebuilds on the same backend
    block = net.down[1][0].spatial
    assert components.config_of(block)["attention_backend"] == "math"
    assert components.config_of(block.layers[0].attn1)["backend"] == "math"
    assert attention_backends_of(components.build(components.config_of(block))) == {"math"}
    assert attention_backends_of(components.build(components.config_of(net))) == {"math"}


def test_constructor_keyword_pins_the_backend_and_round_trips():
    net = _tiny("net/space_time_unet", attention_backend="sdpa")
    assert attention_backends_of(net) == {"sdpa"}
    config = components.config_of(net)
    assert config["attention_backend"] == "sdpa"
    assert components.config_of(_rebuilt(net)) == config


def test_none_and_auto_unpin():
    net = _tiny("net/space_time_unet", attention_backend="math")
    set_attention_backend(net, None)
    assert attention_backends_of(net) == {"auto"} == attention_backends_of(_rebuilt(net))
    assert components.config_of(net)["attention_backend"] is None
    set_attention_backend(net, "auto")
    assert attention_backends_of(_rebuilt(net)) == {"auto"}


def test_backend_set_on_a_module_wins_over_the_context(monkeypatch):
    net = _tiny("net/space_time_unet", attention_backend="math")
    (x, t), cond = _unet_inputs()
    seen = []
    for name in ("math", "sdpa"):
        backend = components.attention.backends._backend(name)
        monkeypatch.setattr(backend, "run", lambda *args, _name=name, _run=backend.run: (seen.append(_name),
                                                                                           _run(*args))[1])
    with torch.no_grad(), components.attention.attention_backend("sdpa"):
        net(x, t, **cond)
    assert seen and set(seen) == {"math"}


@pytest.mark.parametrize("bad", ["mathh", "flash", "", "SDPA"])
def test_unknown_backend_names_are_refused_with_the_known_ones(bad):
    net = _tiny("net/space_time_unet")
    with pytest.raises(ValueError, match=r"set_attention_backend: backend must be one of \[") as err:
        set_attention_backend(net, bad)
    assert repr(bad) in str(err.value) and "'sdpa'" in str(err.value) and "Did you mean" in str(err.value)
    assert attention_backends_of(net) == {"auto"}  # nothing changed


def test_unknown_backend_suggests_the_closest():
    with pytest.raises(ValueError, match="got 'mathh'. Did you mean 'math'"):
        set_attention_backend(_tiny("attention/spatial"), "mathh")
    with pytest.raises(ValueError, match="SpaceTimeUNet: attention_backend must be one of .*got 'sdpaa'.*'sdpa'"):
        components.build("net/space_time_unet", **components.get_component("net/space_time_unet").tiny,
                         attention_backend="sdpaa")
    with pytest.raises(ValueError, match="SpatialAttention: backend must be one of .*got 'xformer'.*'xformers'"):
        components.build("attention/spatial", dim=16, num_heads=2, backend="xformer")
    with pytest.raises(ValueError, match="got 3"):
        set_attention_backend(_tiny("attention/spatial"), 3)


def test_every_registered_backend_name_is_accepted():
    assert backend_names()[0] == "auto" and {"math", "sdpa", "flex"} <= set(backend_names())
    net = _tiny("block/spatial_transformer")
    for name in backend_names():
        assert attention_backends_of(set_attention_backend(net, name)) == {name}


def test_override_pins_for_the_block_then_restores():
    net = _tiny("net/space_time_unet", attention_backend="sdpa")
    config = components.config_of(net)
    with override_attention_backend(net, "math") as inside:
        assert inside is net and attention_backends_of(net) == {"math"}
    assert attention_backends_of(net) == {"sdpa"} and components.config_of(net) == config
    with override_attention_backend(net, None):
        assert attention_backends_of(net) == {"sdpa"}
    with pytest.raises(ValueError, match="got 'mth'"):
        with override_attention_backend(net, "mth"):
            pass


def test_registered_modules_holding_attention_take_the_keywords():
    """Every registered module whose tiny build holds attention accepts ``attention_backend``; every one holding
    ``attention/spatial`` also ``frame_attention`` / ``frame_attention_kwargs``: otherwise their configs could not
    record a backend or a swap made inside them."""
    holders = []
    for key in components.list_components():
        entry = components.get_component(key)
        if not entry.is_module_class or entry.kind == "attention" or entry.tiny is None:
            continue
        try:
            module = components.build(key, **entry.tiny, device="meta")
        except TypeError:
            module = components.build(key, **entry.tiny)
        kinds = {type(m) for m in module.modules() if isinstance(m, MultiHeadAttention)}
        if not kinds:
            continue
        holders.append(key)
        params = inspect.signature(entry.obj.__init__).parameters
        assert "attention_backend" in params, f"{key} holds attention but takes no attention_backend"
        if SpatialAttention in kinds or key == "block/dit_adaln_zero":
            assert {"frame_attention", "frame_attention_kwargs"} <= set(params), f"{key} takes no frame_attention"
    assert {"net/space_time_unet", "net/space_time_dit", "net/controlled_unet", "block/spatial_transformer"} <= set(
        holders)


# ---------------------------------------------------------------- every recipe's net
def _recipe_inputs(name: str, cfg: dict, batch: int = 2):
    recipe = zoo.get_recipe(name)
    preset = recipe.presets["tiny"]
    c, t, h, w = preset.sample_shape
    t, h, w = min(t, 4), min(h, 16), min(w, 16)  # a few frames of a small crop: the nets take any multiple
    g = torch.Generator().manual_seed(2)
    x = torch.randn(batch, c + preset.x_cond_channels, t, h, w, generator=g)
    time = torch.rand(batch, generator=g) if recipe.sampling.time_input == "continuous" else torch.tensor([3, 700])
    cond = {}
    if cfg.get("concat_channels"):
        cond["concat"] = torch.randn(batch, cfg["concat_channels"], t, h, w, generator=g)
    if cfg.get("num_classes") is not None:
        cond["class_labels"] = torch.arange(batch) % cfg["num_classes"]
    if cfg.get("added_cond_dim") is not None:
        cond["added_cond"] = torch.randn(batch, cfg["added_cond_dim"], generator=g)
    if cfg.get("context_dim") is not None:
        cond["context"] = torch.randn(batch, 3, cfg["context_dim"], generator=g)
    if cfg.get("image_context_dim") is not None:  # CLIP image tokens (Wan I2V)
        cond["image_context"] = torch.randn(batch, 5, cfg["image_context_dim"], generator=g)
    if cfg["type"] == "net/controlled_unet":
        f = 2 ** (len(cfg["control_embedding_channels"]) - 1)
        cond["control"] = torch.rand(batch, cfg.get("control_channels", 3), t, f * h, f * w, generator=g)
    return x, time, cond


@pytest.mark.parametrize("name", RECIPES)
def test_every_recipe_net_takes_a_backend_per_preset_and_gives_the_default_output(name):
    torch.manual_seed(0)
    default = zoo.create_model(name, "tiny").eval()
    pinned = zoo.create_model(name, "tiny", attention_backend="math").eval()  # what a preset / the CLI sets
    pinned.load_state_dict(default.state_dict())
    assert attention_backends_of(default) == {"auto"} and attention_backends_of(pinned) == {"math"}
    assert _kinds(pinned) == _kinds(default)
    x, t, cond = _recipe_inputs(name, {**network_config(components.config_of(pinned)),
                                       "type": components.config_of(pinned)["type"]})
    with torch.no_grad():
        torch.testing.assert_close(pinned(x, t, **cond), default(x, t, **cond), atol=1e-5, rtol=1e-5)
    # in place on the built model: recorded as the keyword, so its config builds ``pinned``
    set_attention_backend(default, "math")
    assert components.config_of(default) == components.config_of(pinned)
    assert components.config_of(default)["attention_backend"] == "math"


# ---------------------------------------------------------------- in-place swaps rebuild from config
def _assert_rebuilds(model, inputs):
    (args, kwargs) = inputs
    rebuilt = _rebuilt(model)
    assert _kinds(rebuilt) == _kinds(model)
    assert [n for n, _ in rebuilt.named_parameters()] == [n for n, _ in model.named_parameters()]
    with torch.no_grad():
        torch.testing.assert_close(rebuilt(*args, **kwargs), model(*args, **kwargs), atol=0, rtol=0)
    return rebuilt


def test_cross_frame_swap_of_a_unet_is_recorded_and_rebuilds():
    net = _tiny("net/space_time_unet")
    inputs = _unet_inputs()
    with torch.no_grad():
        before = net(*inputs[0], **inputs[1])
    use_cross_frame_attention(net)
    config = components.config_of(net)
    assert config["frame_attention"] == "cross_frame" and config["frame_attention_kwargs"] is None
    assert "SpatialAttention" not in _kinds(net) and "CrossFrameAttention" in _kinds(net)
    assert components.config_of(net.down[1][0].spatial)["frame_attention"] == "cross_frame"
    assert components.config_of(net.down[1][0].temporal).get("frame_attention") is None  # nothing swapped there
    _assert_rebuilds(net, inputs)
    with torch.no_grad():
        assert not torch.allclose(net(*inputs[0], **inputs[1]), before)  # the swap changed the function


def test_fully_cross_frame_swap_with_kwargs_of_a_controlled_unet_rebuilds():
    key = "net/controlled_unet"
    net = _tiny(key)
    entry = components.get_component(key)
    inputs = entry.inputs(entry.tiny, frames=3, batch=2, generator=torch.Generator().manual_seed(1))
    swap_spatial_attention(net, "attention/fully_cross_frame", key_frames=[0, -1])
    for module in (net, net.unet, net.control):
        config = components.config_of(module)
        assert config["frame_attention"] == "fully_cross_frame"
        assert config["frame_attention_kwargs"] == {"key_frames": [0, -1]}
    rebuilt = _assert_rebuilds(net, inputs)
    swapped = [m for m in rebuilt.modules() if type(m).__name__ == "FullyCrossFrameAttention"]
    assert swapped and all(m.key_frames == [0, -1] for m in swapped)


def test_swap_then_backend_both_survive_the_rebuild():
    net = _tiny("net/space_time_unet")
    use_cross_frame_attention(net)
    set_attention_backend(net, "math")
    rebuilt = _assert_rebuilds(net, _unet_inputs())
    assert attention_backends_of(rebuilt) == {"math"} and "CrossFrameAttention" in _kinds(rebuilt)
    # the swapped modules keep the backend the spatial ones had
    pinned = _tiny("net/space_time_unet", attention_backend="sdpa")
    use_cross_frame_attention(pinned)
    assert attention_backends_of(pinned) == {"sdpa"} == attention_backends_of(_rebuilt(pinned))


def test_swap_in_an_alternating_dit_records_only_the_spatial_blocks():
    key = "net/space_time_dit"
    net = _tiny(key)
    entry = components.get_component(key)
    inputs = entry.inputs(entry.tiny, frames=2, batch=2, generator=torch.Generator().manual_seed(1))
    use_cross_frame_attention(net)
    recorded = [components.config_of(block)["frame_attention"] for block in net.blocks]
    assert recorded == ["cross_frame" if block.attention == "spatial" else None for block in net.blocks]
    assert "cross_frame" in recorded and None in recorded
    _assert_rebuilds(net, inputs)


def test_swap_of_a_block_rebuilds():
    block = _tiny("block/spatial_transformer", depth=2)
    entry = components.get_component("block/spatial_transformer")
    inputs = entry.inputs(entry.tiny, frames=3, batch=2, generator=torch.Generator().manual_seed(1))
    use_cross_frame_attention(block)
    assert components.config_of(block)["frame_attention"] == "cross_frame"
    _assert_rebuilds(block, inputs)


def test_in_place_swap_equals_the_recipe_that_declares_it():
    """Text2Video-Zero declares its cross-frame attention in the preset; swapping Stable Diffusion's built net in
    place gives the same parameters and the same function."""
    torch.manual_seed(0)
    sd = zoo.create_model("stable_diffusion", "tiny").eval()
    t2vz = zoo.create_model("text2video_zero", "tiny").eval()
    use_cross_frame_attention(sd)
    t2vz.load_state_dict(sd.state_dict())
    assert _kinds(sd) == _kinds(t2vz)
    x, t, cond = _recipe_inputs("text2video_zero", components.config_of(t2vz))
    with torch.no_grad():
        torch.testing.assert_close(sd(x, t, **cond), t2vz(x, t, **cond), atol=0, rtol=0)
        torch.testing.assert_close(_rebuilt(sd)(x, t, **cond), t2vz(x, t, **cond), atol=0, rtol=0)


def test_frame_attention_keyword_errors():
    tiny = components.get_component("net/space_time_unet").tiny
    with pytest.raises(ValueError, match="frame_attention='cross_frame' swaps attention/spatial modules, but"):
        components.build("net/space_time_unet", **{**tiny, "attention_levels": (), "mid_attention": False,
                                                   "temporal": "none"}, frame_attention="cross_frame")
    with pytest.raises(ValueError, match="frame_attention_kwargs=.* given without frame_attention"):
        components.build("net/space_time_unet", **tiny, frame_attention_kwargs={"key_frames": [0]})
    with pytest.raises(ValueError, match="variant must be a frame-wise self-attention"):
        components.build("net/space_time_unet", **tiny, frame_attention="spatial")
    with pytest.raises(components.UnknownComponentError, match="Did you mean 'attention/cross_frame'"):
        components.build("net/space_time_unet", **tiny, frame_attention="cross_frames")
