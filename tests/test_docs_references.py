"""Docs and code speak of the repository only: every ``*.md`` file a tracked source or page names exists in it
(beside the file that names it, at the repository root or under docs/)."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest


ROOT = Path(__file__).resolve().parents[1]
# benchmark outputs named by pattern or written at run time, not documents
OUTPUTS = {"SUITE.md", "all.md"}
# the reference pages cite other repositories' files by their paths there (diffusers' docs/…, Open-Sora's …)
CITING_OTHER_REPOSITORIES = {"docs/papers.md", "docs/perf.md", "docs/quality.md"}
MD = re.compile(r"(?<![\w/.:-])((?:\.\./|\./)*[\w-]+(?:/[\w.-]+)*\.md)\b")


def _tracked() -> list[Path]:
    try:
        out = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True).stdout
    except (OSError, subprocess.CalledProcessError):
        pytest.skip("not a git checkout")
    return [ROOT / p for p in out.split() if p.endswith((".py", ".md", ".toml")) and (ROOT / p).is_file()
            and p not in CITING_OTHER_REPOSITORIES]


def _resolves(name: str, where: Path) -> bool:
    bases = (where.parent, ROOT, ROOT / "docs", ROOT / "docs" / "components", ROOT / "docs" / "use")
    return name in OUTPUTS or any((base / name).resolve().is_file() for base in bases)


def test_every_named_markdown_file_exists():
    missing = []
    for path in _tracked():
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            for name in MD.findall(line.split("http")[0]):
                if not _resolves(name, path):
                    missing.append(f"{path.relative_to(ROOT)}:{number}: {name}")
    assert not missing, "\n".join(missing)
