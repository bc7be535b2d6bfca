"""The core imports with core dependencies only (quality.md item 17)."""

from __future__ import annotations

import subprocess
import sys


def test_components_import_without_dev_or_optional_dependencies():
    code = (
        "import sys\n"
        "class Block:\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        "        if name.split('.')[0] in {'hypothesis', 'diffusers', 'xformers', 'pytest', 'matplotlib', 'imageio'}:\n"
        "            raise ImportError('blocked optional dependency ' + name)\n"
        "sys.meta_path.insert(0, Block())\n"
        "import components, zoo\n"
        "print(len(components.list_components()))\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert int(proc.stdout.strip()) > 0
