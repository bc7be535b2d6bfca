"""Argument types and checks shared by the command modules (``demo``, ``train``, ``sample``, ``extend``).

Each type raises ``argparse.ArgumentTypeError`` naming the constraint and the value, which argparse turns into one
line on stderr and exit status 2. ``UsageError`` is a refusal of the arguments found after parsing (a file that is
not there, a checkpoint of another recipe, ...): ``zoo.cli`` prints it as one line and exits 2, without the
``--debug`` hint it gives other errors. ``no_progress_bars()`` silences every tqdm bar while it is active.
"""

from __future__ import annotations

import argparse
import contextlib
import math
import os
import tempfile
from pathlib import Path


class UsageError(ValueError):
    """A command-line argument refused before any work: the message names the argument and the value."""


def _integer(text: str, ok, constraint: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected {constraint}, got {text!r}") from None
    if not ok(value):
        raise argparse.ArgumentTypeError(f"expected {constraint}, got {value}")
    return value


def positive_int(text: str) -> int:
    """An integer > 0."""
    return _integer(text, lambda v: v > 0, "a positive integer")


def non_negative_int(text: str) -> int:
    """An integer >= 0."""
    return _integer(text, lambda v: v >= 0, "an integer >= 0")


def positive_float(text: str) -> float:
    """A finite number > 0 (e.g. frames per second)."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive number, got {text!r}") from None
    if not (math.isfinite(value) and value > 0):
        raise argparse.ArgumentTypeError(f"expected a positive number, got {text}")
    return value


def device(text: str) -> str:
    """A torch device string that exists here (``cpu``, ``cuda``, ``cuda:1``, ``mps``, ...), returned unchanged."""
    import torch

    try:
        dev = torch.device(text)
    except (RuntimeError, ValueError):
        raise argparse.ArgumentTypeError(f"{text!r} is not a torch device (e.g. cpu, cuda, cuda:1, mps)") from None
    if dev.type == "meta":
        raise argparse.ArgumentTypeError(f"{text!r} holds no data; use cpu or cuda")
    if dev.type == "cuda":
        if not torch.cuda.is_available():
            raise argparse.ArgumentTypeError(
                f"{text!r}: no CUDA GPU is available here (torch {torch.__version__}, CUDA build "
                f"{torch.version.cuda or 'none'}); use --device cpu")
        count = torch.cuda.device_count()
        if dev.index is not None and dev.index >= count:
            raise argparse.ArgumentTypeError(f"{text!r}: this machine has {count} CUDA device(s), "
                                             f"cuda:0 to cuda:{count - 1}")
    elif dev.type == "mps":
        if not torch.backends.mps.is_available():
            raise argparse.ArgumentTypeError(f"{text!r}: MPS is not available here; use --device cpu")
    elif dev.type != "cpu":
        backend = getattr(torch, dev.type, None)
        if backend is None or not hasattr(backend, "is_available") or not backend.is_available():
            raise argparse.ArgumentTypeError(f"{text!r}: no {dev.type} device is available here; use --device cpu")
    return text


def add_video_output_arguments(parser: argparse.ArgumentParser) -> None:
    """The arguments every command that samples and writes a video shares: --seed, --out, --fps, --device,
    --no-progress."""
    parser.add_argument("--seed", type=int, default=0, help="noise seed; also the init seed without a checkpoint")
    parser.add_argument("--out", default="out.gif", help="output file: .gif, .mp4 (video extra) or .png strip "
                                                         "(default: out.gif)")
    parser.add_argument("--fps", type=positive_float, default=8.0,
                        help="frames per second of the GIF/MP4 (default: 8)")
    parser.add_argument("--device", type=device, help="torch device (default: cuda if available, else cpu)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bars at all")


def writable_target(path: str | Path, flag: str, *, directory: bool = False) -> Path:
    """``path`` can be written: not an existing directory (a file for ``directory=True``), and its nearest existing
    ancestor is a writable directory (missing parents are created by the writers). ``UsageError`` naming ``flag``."""
    path = Path(path)
    if path.exists() and path.is_dir() != directory:
        kind = "a file" if directory else "a directory"
        raise UsageError(f"{flag} {path}: is {kind}; give a {'folder' if directory else 'file'} path")
    parent = path.parent
    while not parent.exists() and parent != parent.parent:
        parent = parent.parent
    if not parent.is_dir():
        raise UsageError(f"{flag} {path}: {parent} is not a directory")
    try:  # a real probe (os.access says yes to root everywhere, even on a read-only file system)
        with tempfile.TemporaryFile(dir=parent):
            pass
    except OSError as err:
        raise UsageError(f"{flag} {path}: cannot write in {parent} ({err.strerror or err})") from None
    if path.is_file() and not os.access(path, os.W_OK):
        raise UsageError(f"{flag} {path}: the file exists and is not writable")
    return path


@contextlib.contextmanager
def no_progress_bars():
    """Every tqdm bar created inside is disabled (the sampler's, the trainer's, and those of loaders and encoders,
    e.g. diffusers / transformers weight loading, which subclass tqdm)."""
    from tqdm import std

    original = std.tqdm.__init__

    def quiet(self, *args, **kwargs):
        if len(args) > 10:  # ``disable`` given positionally (iterable, desc, ..., ascii, disable)
            args = (*args[:10], True, *args[11:])
        else:
            kwargs["disable"] = True
        original(self, *args, **kwargs)

    std.tqdm.__init__ = quiet
    try:
        yield
    finally:
        std.tqdm.__init__ = original
