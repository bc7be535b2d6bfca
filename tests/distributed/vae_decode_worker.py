"""Run under torchrun (gloo, CPU) by test_vae_frame_parallel.py: the tiny Wan VAE's decode split by latent frames.

``python -m torch.distributed.run --nproc_per_node N vae_decode_worker.py OUT FRAMES``: every rank decodes the same
random latents in one process and split over the ranks (exact warm-up, and shorter ones); rank 0 writes
``OUT/results.json``: the receptive field and the max error of each warm-up against the one-process decode.
"""

import json
import sys
from pathlib import Path

import torch
import torch.distributed as dist

import components
from components.nets.vae_frame_parallel import decode_receptive_field, frame_parallel_decode, set_frame_parallel_decode
from components.nets.wan_vae import TINY


if __name__ == "__main__":
    out, frames = Path(sys.argv[1]), int(sys.argv[2])
    torch.set_num_threads(1)
    dist.init_process_group("gloo")
    torch.manual_seed(0)
    vae = components.build("net/wan_vae", **TINY).eval()  # the registry's tiny Wan VAE: f_t = 2, f = 2
    z = torch.randn(1, TINY["latent_channels"], frames, 2, 2, generator=torch.Generator().manual_seed(1))
    results = {"receptive_field": decode_receptive_field(vae), "temporal_factor": vae.temporal_factor}
    r = results["receptive_field"]
    with torch.no_grad():
        one = vae.decode(z)  # one process, chunked (one latent frame at a time)
        results["frames"] = one.shape[2]
        results["scale"] = one.abs().max().item()
        set_frame_parallel_decode(vae, warmup=r + 1)  # the exact warm-up, as zoo sample installs it
        split = vae.decode(z)
        set_frame_parallel_decode(vae, enabled=False)
        results["exact"] = (split - one).abs().max().item()
        results["shape"] = list(split.shape) == list(one.shape)
        for warmup in (r, 1):  # R frames is already enough here; one frame leaves the seam cold
            results[f"warmup/{warmup}"] = (frame_parallel_decode(vae, z, warmup=warmup) - one).abs().max().item()
        # decode keywords pass through: spatial tiles (each with its own cache), split by frames as well
        results["tiled"] = (frame_parallel_decode(vae, z, warmup=r + 1, tiled=True, tile_size=16, tile_stride=8)
                            - vae.decode(z, tiled=True, tile_size=16, tile_stride=8)).abs().max().item()
    if dist.get_rank() == 0:
        (out / "results.json").write_text(json.dumps(results, indent=1))
    dist.destroy_process_group()
