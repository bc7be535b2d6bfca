"""Backend choice is per module (argument) or per block (context manager), never a hidden global."""

from __future__ import annotations

import pytest
import torch

import components
from components.attention import attention_backend, current_backend, set_attention_backend
from components.attention import backends as core


@pytest.fixture
def calls(monkeypatch):
    seen = []
    for name in ("math", "sdpa"):
        backend = core._backend(name)
        original = backend.run

        def spy(*args, _name=name, _orig=original):
            seen.append(_name)
            return _orig(*args)

        monkeypatch.setattr(backend, "run", spy)
    return seen


def _video():
    return torch.randn(1, 16, 3, 4, 4, generator=torch.Generator().manual_seed(0))


def test_module_argument_pins_the_backend(calls):
    m = components.build("attention/spatial", dim=16, num_heads=2, backend="sdpa")
    m(_video())
    assert calls == ["sdpa"]


def test_context_manager_applies_to_auto_modules_only(calls):
    auto = components.build("attention/spatial", dim=16, num_heads=2)
    pinned = components.build("attention/spatial", dim=16, num_heads=2, backend="math")
    with attention_backend("sdpa"):
        assert current_backend() == "sdpa"
        auto(_video())
        pinned(_video())
    assert current_backend() == "auto"
    assert calls == ["sdpa", "math"]


def test_context_manager_and_module_argument_give_the_same_output():
    m = components.build("attention/temporal", dim=16, num_heads=2)
    with attention_backend("sdpa"):
        a = m(_video())
    set_attention_backend(m, "sdpa")
    b = m(_video())
    assert torch.equal(a, b)


def test_context_manager_rejects_unknown_names():
    with pytest.raises(KeyError, match="Did you mean"):
        with attention_backend("mathh"):
            pass
