"""The core imports with core dependencies only (docs/quality.md item 17).

An import hook refuses optional / dev packages when *our* code (components/, zoo/) asks for them directly; imports
made by third-party libraries for their own optional features are left alone.
"""

from __future__ import annotations

import subprocess
import sys


_CODE = r"""
import os, sys
OPTIONAL = {'hypothesis', 'diffusers', 'xformers', 'pytest', 'matplotlib', 'imageio', 'av'}
ROOT = os.getcwd()
class Block:
    def find_spec(self, name, path=None, target=None):
        if name.split('.')[0] not in OPTIONAL:
            return None
        frame = sys._getframe(1)
        while frame is not None and frame.f_code.co_filename.startswith('<frozen importlib'):
            frame = frame.f_back  # skip the import machinery: the next frame holds the import statement
        f = frame.f_code.co_filename if frame is not None else ''
        if f.startswith(os.path.join(ROOT, 'components')) or f.startswith(os.path.join(ROOT, 'zoo')):
            raise ImportError(f'{f} imports the optional dependency {name}')
        return None
sys.meta_path.insert(0, Block())
import components, zoo, zoo.cli
zoo.cli.build_parser()
print(len(components.list_components()))
"""


def test_components_and_zoo_import_without_optional_dependencies():
    proc = subprocess.run([sys.executable, "-c", _CODE], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert int(proc.stdout.strip()) > 0
