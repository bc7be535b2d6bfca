"""Training with context parallel (gloo, CPU): FSDP2 / DDP + Ulysses / Ring follow one process on the same global
batch, and a checkpoint written under context parallel resumes in one process.

Error budget (fp32, unit roundoff u = 2⁻²⁴ ≈ 6e-8). The sharded run computes the same sums in another order: the
attention's softmax rows (27 keys; Ring merges two partial sums by their log-sum-exp), and every weight gradient is a
sum over the batch's tokens (4 clips × 27 tokens), split across ranks and then reduced. A re-ordered fp32 sum of n
terms differs by at most ~n·u of the sum of their magnitudes; with n of a few hundred (``TERMS``) that is
``TERMS · u ≈ 2e-5`` relative. The loss (a mean of squares, one value) and the gradients (compared relative to each
tensor's largest entry) are held to that. AdamW divides the first moment by the root of the second, so a relative
gradient error δ moves a weight by about ``lr · δ`` per step (and by at most ``lr · |δg| / ε_adam`` where |g| is near
AdamW's ε): two steps of ``lr = 1e-3`` put the weights within 1e-5 (``WEIGHT_TOL``), the brief's bound; measured:
losses ≤ 2.4e-7 apart, gradients ≤ 2.4e-6 relative, weights ≤ 1.3e-6 (2 and 4 ranks, docs/context_parallel.md).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
import torch
from _cp_launch import free_port, run_ranks
from cp_train_worker import CONFIG, full_gradients, randomised_model
from safetensors import safe_open
from safetensors.torch import load_file

from components.attention.parallel_mesh import mesh_shape
from zoo.train import TrainConfig, Trainer


U = 2.0 ** -24
TERMS = 300  # the longest re-ordered fp32 sums: batch × tokens (4 × 27 = 108) times a few heads / channels
LOSS_TOL = TERMS * U  # relative
GRAD_TOL = TERMS * U  # relative to each gradient tensor's largest entry
WEIGHT_TOL = 1e-5  # 2 AdamW steps of lr 1e-3 times GRAD_TOL, rounded up to the brief's bound

TWO = ("fsdp:ulysses", "fsdp:ring")
FOUR = ("fsdp:ulysses=2", "fsdp:ulysses=2,ring=2", "ddp:ring=2")


def _run(tmp_path_factory, ranks, cases):
    out = tmp_path_factory.mktemp(f"cptrain{ranks}")
    run = run_ranks("cp_train_worker.py", ranks, str(out), *cases)
    assert run.returncode == 0, run.stderr[-4000:]
    return out


@pytest.fixture(scope="module")
def single():
    """One process on the same global batch of 4 clips: losses, step-1 gradients, weights after 2 steps."""
    torch.set_num_threads(1)
    trainer = Trainer(TrainConfig(**CONFIG), model=randomised_model())
    trainer.fit(1)
    grads = full_gradients(trainer)
    trainer.fit()
    return trainer.losses, grads, {f"model.{k}": v for k, v in trainer.model.state_dict().items()}


@pytest.fixture(scope="module")
def two(tmp_path_factory):
    return _run(tmp_path_factory, 2, TWO)


@pytest.fixture(scope="module")
def four(tmp_path_factory):
    return _run(tmp_path_factory, 4, FOUR)


def _matches_one_process(out, case, single, mesh):
    losses, grads, weights = single
    path = out / f"{case}.safetensors"
    run = load_file(path)
    with safe_open(path, "pt") as f:
        meta = f.metadata()
    assert json.loads(meta["mesh"]) == mesh
    torch.testing.assert_close(torch.tensor(json.loads(meta["losses"])), torch.tensor(losses), rtol=LOSS_TOL, atol=0)
    for key, g in grads.items():  # the gradient's scale too: AdamW alone would hide a factor P
        error = (run[key] - g).abs().max().item()
        assert error <= GRAD_TOL * g.abs().max().item(), (key, error)
    for key, w in weights.items():
        torch.testing.assert_close(run[key], w, atol=WEIGHT_TOL, rtol=0, msg=key)


@pytest.mark.parametrize(("case", "mesh"), [("fsdp:ulysses", {"data": 1, "ring": 1, "ulysses": 2}),
                                            ("fsdp:ring", {"data": 1, "ring": 2, "ulysses": 1})])
def test_fsdp_with_context_parallel_equals_one_process_on_the_global_batch(two, single, case, mesh):
    _matches_one_process(two, case, single, mesh)


def test_a_checkpoint_written_under_context_parallel_resumes_in_one_process(two, single):
    losses, _, weights = single
    resumed = Trainer(TrainConfig(**CONFIG), model=randomised_model())
    resumed.load(two / "fsdp:ring" / "step_0000001")
    assert resumed.step == 1
    resumed.fit()
    torch.testing.assert_close(torch.tensor(resumed.losses), torch.tensor(losses), rtol=LOSS_TOL, atol=0)
    for key, w in weights.items():
        torch.testing.assert_close(resumed.model.state_dict()[key[6:]], w, atol=WEIGHT_TOL, rtol=0, msg=key)


@pytest.mark.slow
@pytest.mark.parametrize(("case", "mesh"), [("fsdp:ulysses=2", {"data": 2, "ring": 1, "ulysses": 2}),
                                            ("fsdp:ulysses=2,ring=2", {"data": 1, "ring": 2, "ulysses": 2}),
                                            ("ddp:ring=2", {"data": 2, "ring": 2, "ulysses": 1})])
def test_four_ranks_data_by_context_parallel_equal_one_process(four, single, case, mesh):
    _matches_one_process(four, case, single, mesh)


def _torchrun_train(tmp_path, ranks, *args):
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", str(ranks), "--master_addr",
           "127.0.0.1", "--master_port", str(free_port()), "-m", "zoo", "train", *args, "--steps", "1",
           "--batch-size", "2", "--frames", "3", "--size", "6", "--no-progress", "--out", str(tmp_path)]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=180, env={**os.environ, "OMP_NUM_THREADS": "1"})


@pytest.mark.slow
def test_torchrun_train_with_context_parallel_writes_a_checkpoint_and_refuses_in_one_line(tmp_path):
    run = _torchrun_train(tmp_path / "ok", 2, "wan2_1_t2v_1_3b", "--context-parallel", "ring", "--parallel", "fsdp")
    assert run.returncode == 0, run.stderr[-3000:]
    assert (tmp_path / "ok" / "checkpoints" / "step_0000001" / "model.safetensors").is_file()
    heads = _torchrun_train(tmp_path / "heads", 4, "wan2_1_t2v_1_3b", "--context-parallel", "ulysses")
    assert heads.returncode != 0  # torchrun reports a failed rank as 1
    assert ("error: --context-parallel ulysses: context_parallel (WanTransformer): the ulysses degree must divide "
            "num_heads=2, got ulysses=4; degrees that would: [1, 2]") in heads.stderr
    latte = _torchrun_train(tmp_path / "latte", 2, "latte", "--context-parallel", "ring")
    assert latte.returncode != 0 and "only full spacetime self-attention can be sharded" in latte.stderr
    world = _torchrun_train(tmp_path / "world", 2, "wan2_1_t2v_1_3b", "--context-parallel", "ulysses=2,ring=2")
    assert world.returncode != 0 and "= 4 does not divide the world size 2" in world.stderr


def test_a_world_the_sequence_group_does_not_divide_is_refused():
    with pytest.raises(ValueError, match=r"context_parallel: the sequence group ring × ulysses = 2 × 2 = 4 does not "
                                         r"divide the world size 6 \('ulysses=2,ring=2'\)"):
        mesh_shape("ulysses=2,ring=2", 6, data_parallel=True)
    assert mesh_shape("ulysses=2", 6, data_parallel=True) == {"dp": 3, "cfg": 1, "ring": 1, "ulysses": 2}
    assert mesh_shape("ring", 4, data_parallel=True) == {"dp": 1, "cfg": 1, "ring": 4, "ulysses": 1}


def test_context_parallel_in_one_process_is_refused():
    with pytest.raises(ValueError, match="context_parallel: shards a sequence over torchrun ranks, got 'ring' in one "
                                         "process"):
        Trainer(TrainConfig(**CONFIG, context_parallel="ring"))


def test_context_parallel_with_gradient_checkpointing_is_refused():
    with pytest.raises(ValueError, match="cannot be combined with gradient_checkpointing"):
        TrainConfig(**CONFIG, context_parallel="ulysses", gradient_checkpointing=True)
