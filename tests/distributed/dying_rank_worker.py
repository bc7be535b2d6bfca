"""Two ranks started by hand (no torchrun agent to kill the survivor): rank 1 dies before the attention's collective;
rank 0 must fail with an error naming the collective, within the process group's timeout, not hang."""

import os
import sys
from datetime import timedelta

import torch
import torch.distributed as dist

from components.attention import init_context_parallel, sharded_attention


if __name__ == "__main__":
    rank = int(os.environ["RANK"])
    torch.set_num_threads(1)
    dist.init_process_group("gloo", timeout=timedelta(seconds=int(os.environ.get("CP_TIMEOUT", "10"))))
    cp = init_context_parallel(sys.argv[1])
    if rank == 1:
        os._exit(3)  # a crash: no clean shutdown of the process group
    q = torch.randn(1, 2, 4, 8)
    try:
        sharded_attention(q, q, q, cp, valid=8).sum().item()
    except Exception as error:  # the survivor's report
        print(f"rank 0: {type(error).__name__}: {error}".splitlines()[0], file=sys.stderr)
        os._exit(17)
    os._exit(0)
