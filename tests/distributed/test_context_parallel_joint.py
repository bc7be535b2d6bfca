"""Joint (MM-DiT) attention under context parallel on 2 gloo CPU ranks: the video tokens sharded, the text whole on
every rank, equals one process (fp32, ≤ 1e-5), keeps the text stream the same bits on every rank, and costs the
bytes docs/perf.md §10 counts.

Error budget: sharding only reorders the fp32 sums of the softmax (a different key order, Ring's log-sum-exp merge of
partials) — a few ulp of outputs of size ~1 (1e-7 measured); 1e-5 leaves two orders of margin and still catches any
mis-routed head, token or mask (errors of order 1).
"""

from __future__ import annotations

import json

import pytest
from _cp_launch import run_ranks

import zoo
from components.attention import ContextParallel, set_context_parallel
from components.attention.parallel_mesh import attention_bytes, gather_bytes


TOL = 1e-5
SPECS = ("ulysses", "ring")
DEGREES = {"ulysses": (2, 1), "ring": (1, 2), "ulysses=2,ring=2": (2, 2)}
BLOCKS = ("hunyuan_video_dual", "hunyuan_video_single", "cogvideox", "mochi")


def _results(tmp_path_factory, ranks, specs):
    out = tmp_path_factory.mktemp(f"cpjoint{ranks}")
    run = run_ranks("cp_joint_worker.py", ranks, str(out), *specs)
    assert run.returncode == 0, run.stderr[-4000:]
    return json.loads((out / "results.json").read_text())


@pytest.fixture(scope="module")
def two(tmp_path_factory):
    return _results(tmp_path_factory, 2, SPECS)


@pytest.fixture(scope="module")
def four(tmp_path_factory):
    return _results(tmp_path_factory, 4, ("ulysses=2,ring=2",))


def _of(results, prefix):
    found = {k: v for k, v in results.items() if k.startswith(prefix)}
    assert found, prefix
    return found


def _outputs_match(results, spec):
    for stream in ("video", "text"):  # 12, 13, 7 video tokens; [x ; c] and [c ; x]; context_pre_only
        errors = _of(results, f"{stream}/{spec}/")
        assert max(errors.values()) <= TOL, errors


def _text_is_the_same_bits(results, spec):
    spreads = {**_of(results, f"text_spread/{spec}/"), **_of(results, f"block_spread/{spec}/")}
    assert max(spreads.values()) == 0.0, spreads


def _bytes_match(results, spec):
    """Self-attention's count of the video, the gather of the video output, and (Ulysses) the all-gather of the
    text output over heads: ``B·M·dim·(U−1)/U`` elements."""
    u, r = DEGREES[spec]
    dim, text = results[f"dims/{spec}"]
    for key, sent in _of(results, f"bytes/{spec}/").items():
        case, n = key.split("/")[2], int(key.split("/")[3])
        text_out = 0 if case == "pre_only" else 2 * text * dim * (u - 1) // u * 4
        expected = (attention_bytes(2, n, dim, ulysses=u, ring=r, element_size=4)
                    + gather_bytes(2, n, dim, ulysses=u, ring=r, element_size=4) + text_out)
        assert sent == expected, key


@pytest.mark.parametrize("spec", SPECS)
def test_sharded_joint_attention_equals_one_process_at_odd_lengths_with_a_context_mask(two, spec):
    _outputs_match(two, spec)


@pytest.mark.parametrize("spec", SPECS)
def test_the_text_stream_is_the_same_bits_on_every_rank(two, spec):
    _text_is_the_same_bits(two, spec)


@pytest.mark.parametrize("spec", SPECS)
def test_sharded_joint_attention_gradients_equal_one_process(two, spec):
    assert two[f"gradient/{spec}"] <= TOL


@pytest.mark.parametrize("spec", SPECS)
@pytest.mark.parametrize("block", BLOCKS)
def test_sharded_mmdit_block_equals_one_process(two, spec, block):
    assert two[f"block/{spec}/{block}"] <= TOL


@pytest.mark.parametrize("spec", SPECS)
def test_bytes_per_joint_attention_are_the_analytic_count(two, spec):
    _bytes_match(two, spec)


@pytest.mark.slow
def test_two_dimensional_mesh_on_four_ranks_equals_one_process(four):
    spec = "ulysses=2,ring=2"  # Ulysses inside a ring chunk: the text heads sliced, then the ring
    _outputs_match(four, spec)
    _text_is_the_same_bits(four, spec)
    assert four[f"gradient/{spec}"] <= TOL
    assert max(_of(four, f"block/{spec}/").values()) <= TOL
    _bytes_match(four, spec)


@pytest.mark.parametrize("spec", SPECS)
@pytest.mark.parametrize("name", ["cogvideox_2b", "cogvideox_5b", "hunyuan_video", "mochi", "ltx_video"])
def test_sharded_mmdit_net_equals_one_process(two, spec, name):
    """A whole tiny CogVideoX (sin-cos and RoPE) / HunyuanVideo (padded prompt; the token refiner whole on every rank) /
    Mochi (per-head rope tables; the caption pool whole) / LTX-Video forward with its video tokens sharded equals one
    process (relative to the output's scale: reordered fp32 sums, module docstring)."""
    assert two[f"net/{spec}/{name}"] <= TOL * max(1.0, two[f"net_scale/{spec}/{name}"])


def test_a_net_that_does_not_shard_its_sequence_is_refused():
    """A U-Net has no token sequence to shard: refused in one line rather than run whole on every rank."""
    model = zoo.create_model("modelscope_t2v", "tiny")
    with pytest.raises(ValueError, match="does not shard its token sequence"):
        set_context_parallel(model, ContextParallel(mesh=None, ulysses=2, ring=1))
