"""The component catalogue (``docs/catalogue.md``), generated from the registry so it cannot drift.

Regenerate with ``python -m zoo catalogue`` (writes the file); ``python -m zoo catalogue --check`` exits 1 when the
committed file is stale. A test runs the check.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path


_ROOT = Path(__file__).resolve().parent.parent
# The source checkout's docs/catalogue.md; None for an installed copy (site-packages has no docs/ of ours to write).
DEFAULT_PATH = _ROOT / "docs" / "catalogue.md" if (_ROOT / "pyproject.toml").is_file() else None
# Kinds documented by hand in docs/components/<page>.md (linked from the catalogue).
_KIND_PAGES = {
    "attention": "attention.md", "attention_backend": "attention.md", "conv": "conv.md", "embed": "embed.md",
    "block": "blocks.md", "net": "../recipes.md",
    "schedule": "../diffusion.md", "parameterization": "../diffusion.md", "preconditioning": "../diffusion.md",
    "weighting": "../diffusion.md", "denoiser": "../diffusion.md", "sampler": "../diffusion.md",
    "guidance": "../diffusion.md", "timesteps": "../diffusion.md", "wrapper": "../sampling.md",
}


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def config_text(value) -> str:
    """Tiny configs are JSON, except wrappers whose config holds the object they wrap (a toy network): name it."""
    return json.dumps(value, default=lambda obj: f"<{getattr(obj, '__qualname__', type(obj).__qualname__)}>")


def render() -> str:
    import components

    keys = components.list_components()
    kinds: dict[str, list[str]] = {}
    for key in keys:
        kinds.setdefault(components.get_component(key).kind, []).append(key)
    lines = [
        "# Component catalogue",
        "",
        "Generated from the registry by `python -m zoo catalogue`; do not edit by hand (a test fails when stale).",
        f"{len(keys)} components in {len(kinds)} kinds. Build any of them with `components.build(KEY, **config)`; "
        "`python -m zoo describe KEY` shows the full signature.",
        "",
    ]
    for kind, kind_keys in kinds.items():
        page = _KIND_PAGES.get(kind)
        link = f" — see [{page.split('/')[-1]}](components/{page})" if page else ""
        lines += [f"## {kind} ({len(kind_keys)}){link}", "", "| key | summary | paper | tiny config | claims |",
                  "|---|---|---|---|---|"]
        for key in kind_keys:
            e = components.get_component(key)
            tiny = config_text(e.tiny) if e.tiny is not None else "—"
            claims = ", ".join(sorted(e.properties)) or ""
            lines.append(f"| `{key}` | {_cell(e.summary)} | {_cell(e.paper)} | `{_cell(tiny)}` | {claims} |")
        lines.append("")
    return "\n".join(lines)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--check", action="store_true", help="exit 1 if the file differs from the registry")
    default = DEFAULT_PATH or "none: required outside a source checkout"
    parser.add_argument("--path", type=Path, default=DEFAULT_PATH, help=f"catalogue file (default {default})")


def main(args: argparse.Namespace) -> int:
    if args.path is None:
        raise ValueError("catalogue: --path is required when zoo is not run from a source checkout (an installed zoo "
                         "has no docs/ folder of its own to write into)")
    text = render()
    if args.check:
        current = args.path.read_text() if args.path.exists() else ""
        if current != text:
            print(f"{args.path} is stale: run `python -m zoo catalogue`", file=sys.stderr)
            return 1
        print(f"{args.path} is up to date")
        return 0
    args.path.parent.mkdir(parents=True, exist_ok=True)
    args.path.write_text(text)
    print(f"wrote {args.path} ({text.count(chr(10))} lines)")
    return 0
