"""Captions of a folder of training clips, for text-conditioned recipes: a sidecar per clip or one mapping file.

    read_captions(files)                       # clip.mp4 -> clip.txt beside it (a frame folder: its clip.txt)
    read_captions(files, "captions.json")      # {"clip.mp4": "a dog runs", ...}
    read_captions(files, "captions.csv")       # rows: file,caption (a header row ``file,caption`` is skipped)

A mapping names clips by file name (``clip.mp4``), stem (``clip``) or path relative to the folder; it must name every
clip and nothing else, and a sidecar must exist for every clip: otherwise one ``ValueError`` names the argument, the
file and the clips.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path


__all__ = ["read_captions"]


def _sidecar(clip: Path) -> Path:
    return clip / "clip.txt" if clip.is_dir() else clip.with_suffix(".txt")


def read_captions(files: list[Path], mapping: str | Path | None = None, *, root: Path | None = None
                  ) -> dict[str, str] | None:
    """``{str(clip): caption}`` for every clip in ``files``; None when there is no mapping and no clip has a
    sidecar (the data carries no captions). ``root``: the folder relative mapping names are read against."""
    files = [Path(f) for f in files]
    if mapping is None:
        found = {str(f): _sidecar(f) for f in files if _sidecar(f).is_file()}
        if not found:
            return None
        missing = [str(f) for f in files if str(f) not in found]
        if missing:
            raise ValueError(f"--data: {len(missing)} clip(s) have no caption sidecar (clip.mp4 -> clip.txt beside "
                             f"it), e.g. {_sidecar(Path(missing[0]))} for {missing[0]}; give one per clip or one "
                             f"--captions FILE (JSON/CSV)")
        return {name: path.read_text().strip() for name, path in found.items()}
    path = Path(mapping)
    if not path.is_file():
        raise ValueError(f"--captions {mapping}: no such file (a JSON object or a CSV of file,caption rows)")
    try:
        if path.suffix.lower() == ".json":
            table = json.loads(path.read_text())
            if not isinstance(table, dict) or not all(isinstance(v, str) for v in table.values()):
                raise ValueError("expected one JSON object mapping file names to caption strings")
        elif path.suffix.lower() == ".csv":
            with path.open(newline="") as f:
                rows = [r for r in csv.reader(f) if r]
            if rows and [c.strip().lower() for c in rows[0][:2]] == ["file", "caption"]:
                rows = rows[1:]
            if any(len(r) < 2 for r in rows):
                raise ValueError("every row must be file,caption")
            table = {r[0].strip(): ",".join(r[1:]).strip() for r in rows}
        else:
            raise ValueError(f"unsupported format {path.suffix!r}; give a .json or .csv file")
    except (OSError, UnicodeDecodeError, ValueError, csv.Error) as err:
        raise ValueError(f"--captions {mapping}: {err}") from None
    base = root if root is not None and root.is_dir() else None
    names = {}
    for f in files:
        keys = {f.name, f.stem, str(f)}
        if base is not None and f.is_relative_to(base):
            keys.add(str(f.relative_to(base)))
        names[str(f)] = keys
    unknown = [k for k in table if not any(k in keys for keys in names.values())]
    if unknown:
        raise ValueError(f"--captions {mapping}: names {len(unknown)} clip(s) not in --data: {', '.join(unknown[:5])}")
    captions, missing = {}, []
    for clip, keys in names.items():
        hit = next((table[k] for k in table if k in keys), None)
        if hit is None:
            missing.append(clip)
        else:
            captions[clip] = hit
    if missing:
        raise ValueError(f"--captions {mapping}: has no caption for {len(missing)} clip(s) of --data: "
                         f"{', '.join(Path(m).name for m in missing[:5])}")
    return captions
