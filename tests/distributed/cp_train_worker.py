"""Run under torchrun (gloo, CPU) by test_context_parallel_training.py: the tiny Wan trained with context parallel.

``python -m torch.distributed.run --nproc_per_node N cp_train_worker.py OUT CASE [CASE ...]``; each CASE is
``PARALLEL:SPEC`` (``fsdp:ulysses``, ``ddp:ring``, ``fsdp:ulysses=2,ring=2`` ...). Per case, rank 0 writes
``OUT/<case>.safetensors``: the full weights after ``STEPS`` steps, the step-1 gradients (``grad.<name>``, gathered
from the shards), and as metadata the losses and this run's mesh; every case also leaves its step-1 checkpoint in
``OUT/<case>/step_0000001`` (resumed by one process in the test).
"""

import json
import sys
from pathlib import Path

import torch
import torch.distributed as dist
from safetensors.torch import save_file

import zoo
from zoo.train import TrainConfig, Trainer


STEPS = 2
# frames=3, size=6: a 3 × 3 × 3 = 27-token latent grid (patch 1 × 2 × 2), padded on 2 and 4 ranks
CONFIG = dict(model="wan2_1_t2v_1_3b", preset="tiny", steps=STEPS, batch_size=4, lr=1e-3, seed=0, progress=False,
              device="cpu", frames=3, size=6, log_every=1)


def randomised_model():
    """The tiny Wan with every weight moved off its init (its zero-initialised output layer would give the blocks no
    gradient at step 1, hiding any error of the sharded attention's backward)."""
    torch.manual_seed(0)
    model = zoo.create_model("wan2_1_t2v_1_3b", "tiny")
    g = torch.Generator().manual_seed(7)
    with torch.no_grad():
        for p in model.parameters():
            p.add_(torch.randn(p.shape, generator=g) * 0.05)
    return model


def full_gradients(trainer: Trainer) -> dict[str, torch.Tensor]:
    """The gradients left by the last step, whole (FSDP: gathered from the DTensor shards; every rank calls it)."""
    grads = {}
    for name, p in trainer.model.named_parameters():
        g = p.grad
        g = g.full_tensor() if hasattr(g, "full_tensor") else g
        grads[f"grad.{name}"] = g.detach().clone().contiguous()
    return grads


def run(out: Path, case: str) -> None:
    parallel, spec = case.split(":", 1)
    trainer = Trainer(TrainConfig(**CONFIG, parallel=parallel, context_parallel=spec), model=randomised_model())
    assert trainer.parallel == parallel and trainer.cp is not None
    trainer.fit(1)
    grads = full_gradients(trainer)
    trainer.save(out / case / "step_0000001")
    trainer.fit()
    state = trainer.full_state_dict()
    if trainer.rank == 0:
        mesh = {"data": trainer.cp.data, "ring": trainer.cp.ring, "ulysses": trainer.cp.ulysses}
        save_file({**{f"model.{k}": v for k, v in state.items()}, **grads}, out / f"{case}.safetensors",
                  metadata={"losses": json.dumps(trainer.losses), "mesh": json.dumps(mesh)})


if __name__ == "__main__":
    out = Path(sys.argv[1])
    torch.set_num_threads(1)
    for case in sys.argv[2:]:
        run(out, case)
    dist.destroy_process_group()
