"""Context-parallel attention and sampling on gloo CPU ranks equal one process (fp32, ≤ 1e-5), and cost the
bytes docs/perf.md §10 counts."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from _cp_launch import free_port, run_ranks

import components
import zoo
from components.attention import ContextParallel, set_context_parallel
from components.attention.parallel_mesh import attention_bytes, gather_bytes, parse_context_parallel
from components.nets.dit import TINY


TOL = 1e-5
TWO = ("ulysses", "ring", "cfg+ring")
FOUR = ("ulysses=2,ring=2", "cfg+ulysses")
DEGREES = {"ulysses": (2, 1), "ring": (1, 2), "ulysses=2,ring=2": (2, 2)}


def _results(tmp_path_factory, ranks, specs):
    out = tmp_path_factory.mktemp(f"cp{ranks}")
    run = run_ranks("cp_worker.py", ranks, str(out), *specs)
    assert run.returncode == 0, run.stderr[-4000:]
    return json.loads((out / "results.json").read_text())


@pytest.fixture(scope="module")
def two(tmp_path_factory):
    return _results(tmp_path_factory, 2, TWO)


@pytest.fixture(scope="module")
def four(tmp_path_factory):
    return _results(tmp_path_factory, 4, FOUR)


def _sharded_attention_matches(results, spec):
    errors = {k: v for k, v in results.items() if k.startswith(f"attention/{spec}/")}
    assert errors and max(errors.values()) <= TOL, errors


def _attention_bytes_match(results, spec):
    u, r = DEGREES[spec]
    for key, sent in results.items():
        if key.startswith(f"attention_bytes/{spec}/"):
            n = int(key.split("/")[2])  # q, k, v (2, 4, n, 8) fp32
            assert sent == attention_bytes(2, n, 32, ulysses=u, ring=r, element_size=4), key


def _model_bytes_match(results, spec):
    u, r = DEGREES[spec]
    dim, depth, out_channels = results[f"model_dims/{spec}"]
    tokens, width = 27, out_channels * 4  # x (2, 16, 3, 6, 6), patch (1, 2, 2)
    expected = (depth * attention_bytes(2, tokens, dim, ulysses=u, ring=r, element_size=4)
                + gather_bytes(2, tokens, width, ulysses=u, ring=r, element_size=4))
    assert results[f"model_bytes/{spec}"] == expected


@pytest.mark.parametrize("spec", ["ulysses", "ring"])
def test_sharded_attention_equals_full_attention_at_odd_lengths(two, spec):
    _sharded_attention_matches(two, spec)


@pytest.mark.parametrize("spec", ["ulysses", "ring"])
def test_sharded_attention_gradients_equal_full_attention(two, spec):
    assert two[f"gradient/{spec}"] <= TOL


@pytest.mark.parametrize("spec", TWO)
def test_sharded_dit_forward_equals_one_process(two, spec):
    assert two[f"model/{spec}"] <= TOL * max(1.0, two[f"model_scale/{spec}"])


@pytest.mark.parametrize("spec", TWO)
def test_sharded_sample_equals_one_process(two, spec):
    assert two[f"sample/{spec}"] <= TOL


@pytest.mark.parametrize("spec", ["ulysses", "ring"])
def test_bytes_per_attention_layer_are_the_analytic_count(two, spec):
    _attention_bytes_match(two, spec)


@pytest.mark.parametrize("spec", ["ulysses", "ring"])
def test_bytes_per_model_call_are_the_analytic_count(two, spec):
    _model_bytes_match(two, spec)


def test_cfg_parallel_sends_one_half_batch_output(two):
    assert two["model_bytes/cfg+ring"] == 1 * 16 * 3 * 6 * 6 * 4  # the other rank's half of (2, 16, 3, 6, 6) fp32


@pytest.mark.slow
def test_two_dimensional_mesh_on_four_ranks_equals_one_process(four):
    _sharded_attention_matches(four, "ulysses=2,ring=2")
    assert four["gradient/ulysses=2,ring=2"] <= TOL
    for spec in FOUR:
        assert four[f"model/{spec}"] <= TOL * max(1.0, four[f"model_scale/{spec}"]), spec
        assert four[f"sample/{spec}"] <= TOL, spec
    _attention_bytes_match(four, "ulysses=2,ring=2")
    _model_bytes_match(four, "ulysses=2,ring=2")


def test_a_dying_rank_gives_the_survivor_an_error_not_a_hang():
    port, worker = free_port(), Path(__file__).with_name("dying_rank_worker.py")
    procs = [subprocess.Popen([sys.executable, str(worker), "ulysses"], stderr=subprocess.PIPE, text=True,
                              env={**os.environ, "OMP_NUM_THREADS": "1", "RANK": str(r), "WORLD_SIZE": "2",
                                   "LOCAL_RANK": str(r), "MASTER_ADDR": "127.0.0.1", "MASTER_PORT": str(port),
                                   "CP_TIMEOUT": "10"})
             for r in range(2)]
    outcomes = [p.communicate(timeout=120) for p in procs]
    assert procs[1].returncode == 3
    assert procs[0].returncode == 17, outcomes[0][1][-2000:]
    assert "rank 0:" in outcomes[0][1]


def _fake(ulysses=1, ring=1, cfg=1):
    return ContextParallel(mesh=None, ulysses=ulysses, ring=ring, cfg=cfg)


def test_ulysses_degree_that_does_not_divide_heads_names_the_degrees_that_would():
    model = zoo.create_model("wan2_1_t2v_1_3b", "tiny")
    with pytest.raises(ValueError, match=r"ulysses degree must divide num_heads=2, got ulysses=4; degrees that "
                                         r"would: \[1, 2\]"):
        set_context_parallel(model, _fake(ulysses=4))


def test_attention_that_cannot_be_sharded_is_refused():
    model = components.build("net/space_time_dit", **TINY)  # Latte-style: spatial and temporal blocks alternate
    with pytest.raises(ValueError, match="only full spacetime self-attention can be sharded; SpaceTimeDiT holds "
                                         "SpatialAttention"):
        set_context_parallel(model, _fake(ring=2))


@pytest.mark.parametrize("spec", ["ulysses=2,ring=x", "tree", "ring=0"])
def test_a_bad_context_parallel_spec_is_refused(spec):
    with pytest.raises(ValueError, match="context_parallel: must be 'ulysses', 'ring' or"):
        parse_context_parallel(spec, 2)


def test_a_mesh_larger_than_the_world_is_refused(tmp_path):
    code = ("import torch.distributed as dist; from components.attention import init_context_parallel;"
            f"dist.init_process_group('gloo', rank=0, world_size=1, init_method='tcp://127.0.0.1:{free_port()}');"
            "init_context_parallel('ulysses=2,ring=2')")
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert "context_parallel: the mesh cfg × ring × ulysses = 1 × 2 × 2 = 4 exceeds the world size 1" in run.stderr


def test_set_context_parallel_none_restores_one_device():
    model = zoo.create_model("wan2_1_t2v_1_3b", "tiny")
    set_context_parallel(model, _fake(ulysses=2))
    assert model.context_parallel is not None
    set_context_parallel(model, None)
    assert model.context_parallel is None and not any(getattr(m, "sequence_sharded", False) for m in model.modules())
    x = torch.randn(1, 16, 1, 4, 4)
    assert model(x, torch.tensor([3.0]), context=torch.randn(1, 3, model.context_proj.linear_1.in_features)).shape \
        == x.shape


def test_torchrun_sample_with_context_parallel_writes_the_frames_of_one_process(tmp_path):
    common = ["wan2_1_t2v_1_3b", "--preset", "tiny", "--steps", "2", "--frames", "5", "--size", "16", "--no-progress"]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    one = subprocess.run([sys.executable, "-m", "zoo", "sample", *common, "--out", str(tmp_path / "one.png")],
                         capture_output=True, text=True, timeout=120, env=env)
    assert one.returncode == 0, one.stderr[-2000:]
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--master_addr", "127.0.0.1",
           "--master_port", str(free_port()), "-m", "zoo", "sample", *common, "--out", str(tmp_path / "cp.png"),
           "--context-parallel", "ulysses=2", "--cfg-parallel"]
    two = subprocess.run(cmd, capture_output=True, text=True, timeout=180, env=env)
    assert two.returncode != 0 and "= 4 exceeds the world size 2" in two.stderr  # 2 × 2 ranks asked of 2
    cmd[-2:] = ["ring", "--no-progress"]
    two = subprocess.run(cmd, capture_output=True, text=True, timeout=180, env=env)
    assert two.returncode == 0, two.stderr[-2000:]
    assert (tmp_path / "cp.png").read_bytes() == (tmp_path / "one.png").read_bytes()
