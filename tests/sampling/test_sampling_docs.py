"""The worked examples of docs/sampling.md run as written (so the documentation cannot drift)."""

from __future__ import annotations

import re
from pathlib import Path


DOC = Path(__file__).resolve().parents[2] / "docs" / "sampling.md"


def test_docs_examples_run():
    blocks = re.findall(r"```python\n(.*?)```", DOC.read_text(), re.S)
    assert len(blocks) >= 8
    exec(compile("\n".join(blocks), str(DOC), "exec"), {})
