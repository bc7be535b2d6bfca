"""Run under torchrun by test_ddp.py: a few steps of the tiny preset, then each rank saves its weights."""

import json
import sys
from pathlib import Path

import torch
from safetensors.torch import save_file

from zoo.train import TrainConfig, Trainer


if __name__ == "__main__":
    out = Path(sys.argv[1])
    torch.set_num_threads(1)
    trainer = Trainer(TrainConfig(model="vdm", preset="tiny", steps=3, batch_size=4, lr=2e-3, seed=0, progress=False,
                                  device="cpu"))
    trainer.fit()
    state = {k: v.contiguous() for k, v in trainer.model.state_dict().items()}
    save_file(state, out / f"rank{trainer.rank}.safetensors", metadata={"losses": json.dumps(trainer.losses)})
    torch.distributed.destroy_process_group()
