"""The registry's contract (issue #2, item 3): strict, helpful, declarative by registry keys only."""

from __future__ import annotations

import json

import pytest
import torch
from torch import nn

import components
from components import registry


@pytest.fixture
def toy():
    """A throwaway entry, removed afterwards."""

    @components.register("testkind", "toy_layer", paper="nobody", tiny=dict(width=4))
    class ToyLayer(nn.Module):
        """A linear layer for registry tests."""

        def __init__(self, width: int, bias: bool = True, scale: tuple = (1, 2)):
            super().__init__()
            self.lin = nn.Linear(width, width, bias=bias)

        def forward(self, x):
            return self.lin(x)

    @components.register("testkind", "toy_factory", paper="nobody", tiny=dict(k=2))
    def toy_factory(k: int = 1):
        """Returns a function multiplying by k."""

        def apply(x):
            return x * k

        return apply

    yield ToyLayer
    registry._unregister("testkind/toy_layer")
    registry._unregister("testkind/toy_factory")


def test_build_by_key_and_by_config_agree(toy):
    torch.manual_seed(0)
    a = components.build("testkind/toy_layer", width=4)
    torch.manual_seed(0)
    b = components.build({"type": "testkind/toy_layer", "width": 4})
    assert isinstance(a, toy) and torch.equal(a.lin.weight, b.lin.weight)


def test_entry_fields(toy):
    e = components.get_component("testkind/toy_layer")
    assert (e.key, e.kind, e.name, e.obj, e.paper) == ("testkind/toy_layer", "testkind", "toy_layer", toy, "nobody")
    assert e.summary == "A linear layer for registry tests."
    assert e.tiny == {"width": 4}


def test_duplicate_key_raises(toy):
    with pytest.raises(ValueError, match="duplicate key 'testkind/toy_layer'"):
        components.register("testkind", "toy_layer")(type("Other", (), {}))


def test_keys_must_be_snake_case():
    with pytest.raises(ValueError, match="snake_case"):
        components.register("Attention", "x")
    with pytest.raises(ValueError, match="snake_case"):
        components.register("attention", "Temporal-2")


def test_unknown_key_suggests_the_closest():
    with pytest.raises(components.UnknownComponentError) as info:
        components.build("attention/temproal")
    assert isinstance(info.value, KeyError)
    message = str(info.value)
    assert "Did you mean" in message and "'attention/temporal'" in message
    assert "list_components" in message


def test_unknown_key_with_only_the_name_suggests_the_kind():
    with pytest.raises(components.UnknownComponentError, match="attention/temporal"):
        components.get_component("temporal")


def test_unknown_keyword_raises_type_error_with_suggestions(toy):
    with pytest.raises(TypeError, match=r"unknown argument 'widht'.*Did you mean 'width'.*Accepted arguments"):
        components.build("testkind/toy_layer", widht=4)


def test_unknown_keyword_is_caught_through_kwargs_forwarding():
    # attention/temporal forwards **kwargs to its base class: the check follows the class hierarchy
    with pytest.raises(TypeError, match="Did you mean 'qk_norm'"):
        components.build("attention/temporal", dim=16, num_heads=2, qknorm=True)


@pytest.mark.parametrize(
    "config",
    [
        {"type": "components.attention.temporal.TemporalAttention", "dim": 16},
        {"type": "os:system", "dim": 16},
        {"_target_": "os.system", "type": "attention/temporal"},
    ],
)
def test_configs_name_registry_keys_only(config):
    with pytest.raises(ValueError, match="import path|_target_"):
        components.build(config)


def test_nested_target_is_refused():
    with pytest.raises(ValueError, match="_target_"):
        components.build({"type": "attention/temporal", "dim": 16, "extra": {"_target_": "os.system"}})


def test_config_without_type_is_refused():
    with pytest.raises(ValueError, match="needs a 'type'"):
        components.build({"dim": 16})


def test_to_config_round_trips_through_json(toy):
    m = components.build("testkind/toy_layer", width=4, bias=False)
    cfg = m.to_config()
    assert cfg == {"type": "testkind/toy_layer", "width": 4, "bias": False, "scale": [1, 2]}
    again = components.build(json.loads(json.dumps(cfg)))
    assert again.to_config() == cfg and again.lin.bias is None


def test_to_config_also_for_direct_construction(toy):
    assert toy(3).to_config()["width"] == 3


def test_factory_results_report_their_config(toy):
    f = components.build("testkind/toy_factory", k=3)
    assert f(2) == 6
    assert components.config_of(f) == {"type": "testkind/toy_factory", "k": 3}


def test_list_components_patterns_and_filters(toy):
    assert components.list_components("testkind/*") == ["testkind/toy_factory", "testkind/toy_layer"]
    assert components.list_components("testkind/*", exclude="*factory") == ["testkind/toy_layer"]
    assert components.list_components(["testkind/toy_l*", "testkind/toy_f*"]) == [
        "testkind/toy_factory", "testkind/toy_layer"]
    assert components.list_components(kind="testkind", paper="NOBODY") == [
        "testkind/toy_factory", "testkind/toy_layer"]
    assert "attention/temporal" in components.list_components(kind="attention")
    assert all(k.startswith("attention/") for k in components.list_components(kind="attention"))


def test_list_components_sorts_naturally():
    keys = ["a/x10", "a/x2", "a/x1"]
    assert sorted(keys, key=registry.natural_key) == ["a/x1", "a/x2", "a/x10"]


def test_modules_build_on_meta_without_memory():
    m = components.build("attention/spacetime", dim=4096, num_heads=32, device="meta")
    assert all(p.is_meta for p in m.parameters())
    assert "device" not in m.to_config()


def test_renamed_keys_still_build_with_a_deprecation_warning():
    import warnings

    from components.registry import RENAMED

    for old, new in RENAMED.items():
        assert components.has_component(new) and old not in components.list_components()
        with pytest.warns(DeprecationWarning, match=f"{old!r} is now {new!r}"):
            entry = components.get_component(old)
        assert entry is components.get_component(new)
    with pytest.warns(DeprecationWarning):
        old = components.build("parameterization/edm_v")
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the new key warns about nothing
        assert type(old) is type(components.build("preconditioning/edm_v"))


def test_a_target_import_path_inside_a_list_is_refused_too():
    with pytest.raises(ValueError, match="'_target_' import paths are not allowed"):
        components.build({"type": "denoiser/gaussian", "mean": [0.0], "cov": [[{"_target_": "os.system"}]]})
