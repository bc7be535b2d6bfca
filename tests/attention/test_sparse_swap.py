"""The training-free swap of a DiT's full spacetime self-attention for a sparse video attention, and its CLI."""

from __future__ import annotations

import pytest
import torch

import components
from components.attention import SpacetimeAttention, parse_attention_spec, swap_spacetime_attention


def dit(**overrides):
    entry = components.get_component("net/space_time_dit")
    torch.manual_seed(0)
    return components.build(entry.key, **{**entry.tiny, "block_pattern": "full", **overrides}).eval()


def _inputs(entry_key, model, seed=1):
    entry = components.get_component(entry_key)
    args, kwargs = entry.inputs(entry.tiny, frames=2, batch=2, generator=torch.Generator().manual_seed(seed))
    return args, kwargs


@pytest.mark.parametrize(("variant", "knobs"), [
    ("sliding_tile", {"tile": [1, 1, 1], "window": [9, 9, 9]}),
    ("radial", {"block_size": 1, "decay_factor": 64.0}),
    ("sparse_videogen", {"frame_window": 9, "position_window": 99}),
    ("video_sparse", {"tile": [1, 1, 1], "sparsity": 0.0}),
])
def test_swap_keeps_the_weights_and_a_full_window_keeps_the_output(variant, knobs):
    model = dit()
    args, kwargs = _inputs("net/space_time_dit", model)
    before = {n: p for n, p in model.named_parameters()}
    with torch.no_grad():
        dense = model(*args, **kwargs)
    swap_spacetime_attention(model, variant, **knobs)
    assert not any(type(m) is SpacetimeAttention for m in model.modules())
    after = dict(model.named_parameters())
    assert all(after[n] is p for n, p in before.items())  # the same tensors, taken over
    assert all("to_gate_compress" in n for n in set(after) - set(before))
    with torch.no_grad():
        torch.testing.assert_close(model(*args, **kwargs), dense, atol=1e-5, rtol=1e-5)


def _last_block_output(model, args, kwargs):
    """The tokens after the last DiT block (the tiny net's output head starts at zero, hiding them)."""
    seen = []
    hook = model.blocks[-1].register_forward_hook(lambda mod, inp, out: seen.append(out))
    with torch.no_grad():
        model(*args, **kwargs)
    hook.remove()
    return seen[0]


def test_swap_works_with_wans_net_level_rope():
    """Wan's blocks get RoPE tables from the net and call attn.attend_grid(tokens, grid, rope=...)."""
    entry = components.get_component("net/wan_transformer")
    torch.manual_seed(0)
    model = components.build(entry.key, **entry.tiny).eval()
    args, kwargs = entry.inputs(entry.tiny, frames=2, batch=2, generator=torch.Generator().manual_seed(1))
    dense = _last_block_output(model, args, kwargs)
    swap_spacetime_attention(model, "sliding_tile", tile=[1, 1, 1], window=[2, 99, 99])
    torch.testing.assert_close(_last_block_output(model, args, kwargs), dense, atol=1e-5, rtol=1e-5)
    swapped = [m for m in model.modules() if hasattr(m, "last_density")]
    assert swapped and all(m.last_density == 1.0 for m in swapped)
    for m in swapped:
        m.window = [1, 1, 1]
    assert not torch.allclose(_last_block_output(model, args, kwargs), dense, atol=1e-4)
    assert all(m.last_density < 1.0 for m in swapped)


def test_swap_refuses_a_net_without_spacetime_attention_and_a_non_sparse_variant():
    with pytest.raises(ValueError, match="contains no attention/spacetime module"):
        swap_spacetime_attention(torch.nn.Sequential(torch.nn.Linear(2, 2)), "sliding_tile")
    with pytest.raises(ValueError, match="variant must be a sparse video attention"):
        swap_spacetime_attention(dit(), "attention/temporal")


def test_parse_attention_spec_reads_json_knobs():
    assert parse_attention_spec("sliding_tile:tile=[1,2,2],window=[3,3,3],path=flex") == (
        "attention/sliding_tile", {"tile": [1, 2, 2], "window": [3, 3, 3], "path": "flex"})
    with pytest.raises(ValueError, match="knobs are name=value"):
        parse_attention_spec("radial:decay")


def test_cli_sample_refuses_an_unknown_attention_in_one_line(capsys):
    from zoo.cli import main

    assert main(["sample", "wan2_1_t2v_1_3b", "--attention", "sliding_tyle", "--out", "x.gif"]) != 0
    err = capsys.readouterr().err
    assert "--attention sliding_tyle: KEY must be one of" in err and "Did you mean 'sliding_tile'" in err


def test_cli_sample_with_sparse_attention_reports_density(tmp_path, capsys):
    from zoo.cli import main

    code = main(["sample", "wan2_1_t2v_1_3b", "--steps", "1", "--no-progress", "--out", str(tmp_path / "a.gif"),
                 "--attention", "sliding_tile:tile=[1,2,2],window=[1,1,1]"])
    assert code in (0, None)
    assert "attention attention/sliding_tile: measured density 0.333" in capsys.readouterr().out


def test_cli_train_with_vsa_updates_its_gate_and_samples_the_checkpoint_back(tmp_path, capsys):
    """`zoo train NAME --attention video_sparse` builds the net swapped (recorded as a constructor override), trains
    VSA's gate (zero at the swap) with the rest, and `sample --checkpoint` rebuilds the same network before loading
    the weights (the gate included)."""
    from safetensors.torch import load_file

    from zoo.cli import main
    from zoo.sample import resolve_checkpoint

    spec = "video_sparse:tile=[1,2,2],sparsity=0.5"
    run = tmp_path / "run"
    assert main(["train", "wan2_1_t2v_1_3b", "--steps", "2", "--batch-size", "1", "--no-progress", "--out", str(run),
                 "--lr", "1e-2", "--attention", spec]) == 0
    weights, _ = resolve_checkpoint(run)
    gates = {k: v for k, v in load_file(str(weights)).items() if "to_gate_compress" in k}
    assert gates and all(float(v.abs().sum()) > 0 for v in gates.values())  # moved off its zero init
    out = tmp_path / "back.gif"
    assert main(["sample", "wan2_1_t2v_1_3b", "--checkpoint", str(run), "--prompt", "a fox", "--steps", "1",
                 "--no-progress", "--out", str(out)]) == 0
    assert out.exists()


def test_a_spacetime_swap_is_recorded_so_the_config_rebuilds_the_sparse_model():
    """``swap_spacetime_attention`` on a built Wan net records ``spacetime_attention`` in the configs around it: the
    config alone rebuilds the swapped model (a VSA checkpoint's gate has a home), and it gives the same output."""
    import zoo

    torch.manual_seed(0)
    model = zoo.create_model("wan2_1_t2v_1_3b", "tiny").eval()
    swap_spacetime_attention(model, "attention/video_sparse", tile=[1, 2, 2], sparsity=0.5)
    cfg = components.config_of(model)
    assert cfg["spacetime_attention"] == "video_sparse" and cfg["spacetime_attention_kwargs"]["sparsity"] == 0.5
    rebuilt = components.build(cfg).eval()
    rebuilt.load_state_dict(model.state_dict())  # strict: the gate parameters exist on both sides
    x = torch.randn(1, 16, 3, 4, 4, generator=torch.Generator().manual_seed(1))
    context = torch.randn(1, 5, 32, generator=torch.Generator().manual_seed(2))
    with torch.no_grad():
        torch.testing.assert_close(rebuilt(x, torch.tensor([0.5]), context=context),
                                   model(x, torch.tensor([0.5]), context=context))
