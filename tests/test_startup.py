"""Start-up (issue 18 item 11): ``import zoo`` and ``python -m zoo list`` load no heavy optional library.

A test of what is imported, never of a time (docs/benchmarks/cpu/startup.md has the timings): timm's layers pull
torchvision and ``torch._dynamo`` (~1.5 s of a 3.7 s ``python -m zoo list``), so the layers that use timm import it
in their constructors; diffusers / transformers / PIL / av ... are imported by the functions that need them.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import torch

import zoo


ROOT = Path(__file__).resolve().parents[1]
# Modules whose import costs noticeable time and that listing components / recipes does not need.
HEAVY = ("timm", "torchvision", "torch._dynamo", "diffusers", "transformers", "huggingface_hub", "scipy",
         "torchsde", "torchdiffeq", "PIL", "av", "imageio", "matplotlib", "cv2", "xformers")

_IMPORT = "import zoo, components"
_LIST = """
import contextlib, io
import zoo.cli
with contextlib.redirect_stdout(io.StringIO()) as out:
    code = zoo.cli.main(["list"])
assert code == 0 and "models (" in out.getvalue(), (code, out.getvalue())
"""


def _loaded_after(code: str) -> list[str]:
    script = f"{code}\nimport json, sys\nprint(json.dumps(sorted(m for m in {HEAVY!r} if m in sys.modules)))"
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, cwd=ROOT)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout.strip().splitlines()[-1])


def test_import_zoo_loads_no_heavy_module():
    assert _loaded_after(_IMPORT) == []


def test_zoo_list_loads_no_heavy_module():
    assert _loaded_after(_LIST) == []


def test_building_a_model_imports_timm_where_it_is_used():
    code = _IMPORT + "\nimport sys\nassert 'timm' not in sys.modules\nzoo.create_model('dit_xl_2', 'tiny')"
    assert "timm" in _loaded_after(code)


def test_timm_layers_keep_their_names():
    """The lazily imported timm ``Mlp`` is the layer the model holds, with timm's parameter names."""
    torch.manual_seed(0)
    model = zoo.create_model("dit_xl_2", "tiny")
    mlp = model.embed.timestep.mlp
    assert type(mlp).__module__.startswith("timm.")
    assert {"embed.timestep.mlp.fc1.weight", "embed.timestep.mlp.fc2.bias", "blocks.0.mlp.fc1.weight"} <= set(
        model.state_dict()
    )
    out = model(torch.randn(1, *zoo.get_recipe("dit_xl_2").preset("tiny").sample_shape), torch.tensor([10]),
                class_labels=torch.tensor([1]))
    assert torch.isfinite(out).all()
