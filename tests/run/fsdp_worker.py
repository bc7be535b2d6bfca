"""Run under torchrun by test_fsdp.py: the tiny preset under FSDP2, a checkpoint at step 2, a resume from it."""

import json
import sys
from pathlib import Path

import torch
from safetensors.torch import save_file

from zoo.train import TrainConfig, Trainer


if __name__ == "__main__":
    out = Path(sys.argv[1])
    torch.set_num_threads(1)
    config = dict(model="vdm", preset="tiny", steps=3, batch_size=4, lr=2e-3, seed=0, progress=False, device="cpu",
                  parallel="fsdp")
    trainer = Trainer(TrainConfig(**config))
    assert trainer.parallel == "fsdp", trainer.parallel
    local = sum(p.to_local().numel() for p in trainer.model.parameters())
    trainer.fit(2)
    trainer.save(out / "checkpoints" / "step_0000002")
    trainer.fit()
    trainer.save(out / "checkpoints" / "step_0000003")
    full = trainer.full_state_dict()           # collective: every rank calls it
    ema = trainer.full_state_dict(ema=True)

    resumed = Trainer(TrainConfig(**config))
    resumed.load(out / "checkpoints" / "step_0000002")
    resumed.fit()
    full_resumed = resumed.full_state_dict()
    if trainer.rank == 0:
        meta = {"losses": json.dumps(trainer.losses), "resumed_losses": json.dumps(resumed.losses),
                "local_numel": str(local)}
        save_file(full, out / "fsdp.safetensors", metadata=meta)
        save_file({f"ema.{k}": v for k, v in ema.items()}, out / "fsdp_ema.safetensors")
        save_file(full_resumed, out / "resumed.safetensors")
    else:
        assert full == {} and full_resumed == {}
    torch.distributed.destroy_process_group()
