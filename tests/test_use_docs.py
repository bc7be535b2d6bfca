"""The docs/use pages run as written: every ```python block in order, then every ``python -m zoo sample|train ...
--preset tiny`` and ``python -m zoo export`` line of their ```bash blocks through the CLI, in page order, in a fresh
folder (tiny random weights)."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest

from zoo.cli import main


pytest.importorskip("diffusers")
pytest.importorskip("transformers")

DOCS = Path(__file__).resolve().parent.parent / "docs" / "use"
PAGES = sorted(DOCS.glob("*.md"))


def test_the_use_pages_exist_and_are_linked():
    assert {p.name for p in PAGES} >= {"image_to_video_svd.md", "text_to_video_modelscope.md", "edit_video.md"}
    readme = (DOCS.parent.parent / "README.md").read_text()
    quickstart = (DOCS.parent / "quickstart.md").read_text()
    for page in PAGES:
        assert f"docs/use/{page.name}" in readme and f"use/{page.name}" in quickstart, f"{page.name} is not linked"


@pytest.mark.parametrize("page", PAGES, ids=[p.stem for p in PAGES])
def test_use_page_runs(page, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    text = page.read_text()
    blocks = re.findall(r"```python\n(.*?)```", text, re.S)
    assert blocks, f"{page.name} has no python snippet"
    exec(compile("\n".join(blocks), str(page), "exec"), {})
    # in page order: tiny `train` / `sample` lines, and `export` lines (of a run a tiny `train` line wrote)
    commands = [line for block in re.findall(r"```bash\n(.*?)```", text, re.S) for line in block.splitlines()
                if (line.startswith(("python -m zoo sample", "python -m zoo train")) and "--preset tiny" in line)
                or line.startswith("python -m zoo export")]
    assert any(c.startswith("python -m zoo sample") for c in commands), \
        f"{page.name} shows no tiny `python -m zoo sample` line"
    for line in commands:
        argv = shlex.split(line)[3:]
        assert main(argv) == 0, line
        out = argv[argv.index("--out") + 1]
        assert (tmp_path / out).exists() and any((tmp_path / out).iterdir()) if (tmp_path / out).is_dir() else \
            (tmp_path / out).stat().st_size > 0, f"{line}: wrote nothing"
        said = {"sample": "wrote", "train": "trained", "export": "exported"}[argv[0]]
        assert said in capsys.readouterr().out, line
