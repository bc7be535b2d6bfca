"""Crash-safe checkpoint directories: atomic writes, a manifest, validation, fallback to the newest good one.

A checkpoint ``ROOT/step_0000042/`` is written as ``ROOT/.step_0000042.tmp/``: every file is flushed and
``fsync``-ed, ``manifest.json`` is written last (each file's size and sha256, the step, the library version), the
directory is ``fsync``-ed and renamed into place, the parent directory ``fsync``-ed, and ``ROOT/latest`` is replaced
atomically (temporary file, ``fsync``, ``os.replace``). A kill at any moment therefore leaves either the previous
state or a complete checkpoint: a half-written one only ever exists under its hidden ``.tmp`` name, which readers skip.

The checksum is sha256 (``hashlib``, ~1-2 GB/s per core with SHA extensions): a checkpoint of a 500M-parameter model
(~8 GB of weights, EMA and AdamW moments) costs a few seconds, small beside writing it; the sizes alone catch
truncation, the hash catches a file that was overwritten or bit-flipped.

Checkpoints written before the manifest existed (no ``manifest.json``) are accepted with a one-line warning after a
cheaper check: every ``.safetensors`` file's header must parse and its length must match the tensors it declares.

Test-only fault injection: ``ZOO_FAULT_INJECT=write:K`` SIGKILLs the process just before its K-th checkpoint write
operation (counted over the process: each file, the directory rename, the ``latest`` pointer; 7 per single-process
save), ``ZOO_FAULT_INJECT=step:K`` right after its K-th training step (``zoo.train`` calls ``fault_point("step")``).
``:TERM`` / ``:INT`` after K sends that signal instead of SIGKILL, and ``@R`` at the end limits it to rank ``R``
(``step:2:TERM@1``). Nothing reads it outside these hooks; never set it in real runs.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import signal
import struct
import sys
from collections.abc import Callable
from pathlib import Path


__all__ = ["FAULT_ENV", "MANIFEST", "commit", "fault_point", "find_latest_valid", "prune", "resolve", "start",
           "temporary", "validate", "write_file", "write_text_atomic"]

MANIFEST = "manifest.json"
FAULT_ENV = "ZOO_FAULT_INJECT"
_STEP = re.compile(r"(\d+)$")
_counts: dict[str, int] = {}


def fault_point(kind: str) -> None:
    """Test hook: SIGKILL this process at the K-th call of ``kind`` when ``ZOO_FAULT_INJECT=kind:K``."""
    spec = os.environ.get(FAULT_ENV)
    if not spec:
        return
    _counts[kind] = _counts.get(kind, 0) + 1
    spec, _, rank = spec.partition("@")
    name, _, rest = spec.partition(":")
    k, _, sig = rest.partition(":")
    if name == kind and k.isdigit() and int(k) == _counts[kind] and rank in ("", os.environ.get("RANK", "0")):
        sys.stdout.flush()
        sys.stderr.flush()
        os.kill(os.getpid(), getattr(signal, f"SIG{sig or 'KILL'}"))


def _fsync_dir(path: Path) -> None:
    if os.name == "nt":  # directories cannot be opened for fsync on Windows
        return
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_file(path: Path, write: Callable[[Path], object]) -> None:
    """``write(path)`` (e.g. ``safetensors.torch.save_file``), then flush the file to disk (``fsync``)."""
    fault_point("write")
    write(path)
    with open(path, "rb+") as f:
        os.fsync(f.fileno())


def write_text_atomic(path: Path, text: str) -> None:
    """Replace ``path`` by ``text`` atomically: a temporary file beside it, ``fsync``, ``os.replace``."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp")
    with open(tmp, "w") as f:
        f.write(text)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)
    _fsync_dir(path.parent)


def temporary(final: Path) -> Path:
    """The hidden directory beside ``final`` that it is written in before the rename."""
    final = Path(final)
    return final.parent / f".{final.name}.tmp"


def start(final: Path) -> Path:
    """Create ``temporary(final)`` empty (rank 0 calls it; the other ranks wait) and return it."""
    tmp = temporary(final)
    if tmp.exists():
        shutil.rmtree(tmp)  # left by a killed save
    tmp.mkdir(parents=True)
    return tmp


def _sha256(path: Path) -> str:
    with open(path, "rb") as f:
        return hashlib.file_digest(f, "sha256").hexdigest()


def _version() -> str:
    try:
        from importlib.metadata import version

        return version("video-diffusion-zoo")
    except Exception:  # a source tree that is not installed
        return "unknown"


def commit(tmp: Path, final: Path, step: int) -> Path:
    """Write the manifest of ``tmp``'s files, rename ``tmp`` to ``final`` and point ``latest`` at it. Returns final."""
    tmp, final = Path(tmp), Path(final)
    files = {p.name: {"size": p.stat().st_size, "sha256": _sha256(p)} for p in sorted(tmp.iterdir())
             if p.is_file() and p.name != MANIFEST}
    manifest = {"format": "zoo-checkpoint", "version": 1, "step": int(step), "library": _version(), "files": files}
    write_file(tmp / MANIFEST, lambda p: p.write_text(json.dumps(manifest, indent=2)))
    _fsync_dir(tmp)
    fault_point("write")
    old = final.parent / f".{final.name}.old"
    if final.exists():  # the same step saved again (or a broken leftover): keep it until the new one is in place
        if old.exists():
            shutil.rmtree(old)
        os.replace(final, old)
    os.replace(tmp, final)
    _fsync_dir(final.parent)
    if old.exists():
        shutil.rmtree(old)
    fault_point("write")
    write_text_atomic(final.parent / "latest", final.name)
    return final


# ---------------------------------------------------------------------- reading


def _safetensors_reason(path: Path) -> str | None:
    """Why ``path`` is not a complete safetensors file (header parses, length matches its tensors), or None."""
    size = path.stat().st_size
    try:
        with open(path, "rb") as f:
            head = f.read(8)
            if len(head) < 8:
                return f"{path.name} is {size} bytes, too short for a safetensors header"
            (n,) = struct.unpack("<Q", head)
            if n > size - 8:
                return f"{path.name} is truncated ({size} bytes; its header alone claims {n + 8})"
            header = json.loads(f.read(n))
    except (OSError, ValueError, UnicodeDecodeError) as err:
        return f"{path.name} has an unreadable safetensors header ({err})"
    end = max((v["data_offsets"][1] for k, v in header.items() if k != "__metadata__"), default=0)
    if size != 8 + n + end:
        return f"{path.name} is {size} bytes, its header declares {8 + n + end}"
    return None


def _check(directory: Path) -> tuple[str | None, bool]:
    """``(reason it is broken or None, whether it is a legacy checkpoint without a manifest)``."""
    manifest_file = directory / MANIFEST
    if not manifest_file.is_file():
        if not (directory / "model.safetensors").is_file():
            return f"no {MANIFEST} and no model.safetensors", True
        for p in sorted(directory.glob("*.safetensors")):
            if reason := _safetensors_reason(p):
                return reason, True
        return None, True
    try:
        manifest = json.loads(manifest_file.read_text())
        files = manifest["files"]
    except (OSError, ValueError, KeyError, TypeError) as err:
        return f"{MANIFEST} is unreadable ({err.__class__.__name__}: {err})", False
    if "model.safetensors" not in files:
        return f"{MANIFEST} does not list model.safetensors", False
    for name, entry in files.items():
        p = directory / name
        if not p.is_file():
            return f"{name} is missing (listed in {MANIFEST})", False
        if p.stat().st_size != entry["size"]:
            return f"{name} is {p.stat().st_size} bytes, {MANIFEST} says {entry['size']}", False
        if _sha256(p) != entry["sha256"]:
            return f"{name} does not match its sha256 in {MANIFEST}", False
    return None, False


def validate(directory: str | Path) -> str | None:
    """None if ``directory`` is a complete checkpoint, else the reason (one line naming the file)."""
    directory = Path(directory)
    if not directory.is_dir():
        return f"{directory} is not a directory"
    return _check(directory)[0]


def _warn(message: str) -> None:
    if os.environ.get("RANK", "0") != "0":  # under torchrun every rank resolves the same checkpoint: say it once
        return
    print(f"zoo: {message}", file=sys.stderr)


def _step_of(path: Path) -> int:
    m = _STEP.search(path.name)
    return int(m.group(1)) if m else -1


def find_latest_valid(root: str | Path) -> Path | None:
    """The checkpoint ``root/latest`` names if it is valid, else the newest valid one older than it (newest first by
    the step number ending the name), warning in one line for each broken one skipped; None if there is none."""
    root = Path(root)
    candidates = sorted((p for p in root.iterdir() if p.is_dir() and not p.name.startswith(".") and _step_of(p) >= 0),
                        key=lambda p: (_step_of(p), p.name), reverse=True) if root.is_dir() else []
    pointer = root / "latest"
    if pointer.is_file():
        name = pointer.read_text().strip()
        target = root / name if name and "/" not in name and not name.startswith(".") else None
        if target is None or not target.is_dir():
            _warn(f"{pointer} is {'empty' if not name else f'naming a missing {name!r}'}; "
                  "using the newest valid checkpoint")
        else:  # a checkpoint newer than the pointer belongs to an older, longer run: skip it
            candidates = [target] + [p for p in candidates if p != target and _step_of(p) <= _step_of(target)]
    for path in candidates:
        reason, legacy = _check(path)
        if reason is None:
            if legacy:
                _warn(f"{path} has no {MANIFEST} (written by an older version): checked its safetensors headers only")
            return path
        _warn(f"skipping broken checkpoint {path}: {reason}")
    return None


def resolve(path: str | Path) -> Path:
    """A valid checkpoint directory (or ``.safetensors`` file) from a checkpoint, ``OUT/checkpoints`` or ``OUT``.

    A specific checkpoint that is broken raises ``ValueError`` naming the file and the reason; a folder of
    checkpoints gives its newest valid one (see ``find_latest_valid``)."""
    path = Path(path)
    if path.is_file():
        if path.suffix != ".safetensors":
            raise ValueError(f"checkpoint {path} is neither a .safetensors file nor a checkpoint directory")
        if reason := _safetensors_reason(path):
            raise ValueError(f"checkpoint {path} is broken: {reason}")
        return path
    if path.is_dir() and any((path / n).is_file() for n in (MANIFEST, "model.safetensors", "train_state.safetensors")):
        reason, legacy = _check(path)
        if reason:
            raise ValueError(f"checkpoint {path} is broken: {reason}")
        if legacy:
            _warn(f"{path} has no {MANIFEST} (written by an older version): checked its safetensors headers only")
        return path
    for root in (path / "checkpoints", path):  # OUT or OUT/checkpoints
        if root.is_dir() and ((root / "latest").is_file() or any(_step_of(p) >= 0 for p in root.iterdir())):
            found = find_latest_valid(root)
            if found is not None:
                return found
            if root.name == "checkpoints" or (root / "latest").exists():
                raise ValueError(f"checkpoint folder {root} holds no valid checkpoint")
    raise ValueError(f"checkpoint {path} is neither a .safetensors file nor a directory with model.safetensors")


def prune(newest: Path, keep_last: int) -> list[Path]:
    """Delete checkpoints beside ``newest`` older than the ``keep_last`` newest (``newest`` included, which must be
    valid, so the last valid one is never deleted), and leftovers of killed saves. Returns what was deleted."""
    newest = Path(newest)
    if keep_last <= 0:
        return []
    if reason := validate(newest):
        _warn(f"not deleting older checkpoints: the new one {newest} is broken: {reason}")
        return []
    root, step = newest.parent, _step_of(newest)
    older = sorted((p for p in root.iterdir() if p.is_dir() and not p.name.startswith(".") and p != newest
                    and 0 <= _step_of(p) < step), key=_step_of, reverse=True)
    doomed = older[keep_last - 1:]
    doomed += [p for p in root.iterdir() if p.is_dir() and p.name.startswith(".") and p.name.endswith((".tmp", ".old"))]
    for p in doomed:
        shutil.rmtree(p, ignore_errors=True)
    return doomed


def state_mismatch(own: dict, state: dict) -> str | None:
    """How a loaded ``state`` dict fails to fit a module's ``own`` state dict, in one phrase ("N tensor(s) of another
    shape, M missing, K unexpected (the first of them)"), or None when it fits."""
    missing = [k for k in own if k not in state]
    unexpected = [k for k in state if k not in own]
    shapes = [k for k in own if k in state and tuple(state[k].shape) != tuple(own[k].shape)]
    if not (missing or unexpected or shapes):
        return None
    first = (f"{shapes[0]} is {tuple(state[shapes[0]].shape)} there, {tuple(own[shapes[0]].shape)} here"
             if shapes else f"e.g. {(missing or unexpected)[0]!r} is {'missing' if missing else 'unexpected'}")
    return f"{len(shapes)} tensor(s) of another shape, {len(missing)} missing, {len(unexpected)} unexpected ({first})"
