"""A folder of pickled entries that processes share.

Where: `$GUANXI_CACHE_DIR` (the value `off` turns the disk cache off), else
`$XDG_CACHE_HOME/guanxi` (when absolute, as the XDG spec asks), else `~/.cache/guanxi`; each
kind of entry in a sub-folder of its own. Folders guanxi creates there are 0700.

Whom to trust: unpickling runs code, so an entry is read only from a folder and a file owned
by the current user that neither group nor others may write (the file is checked once open,
so one swapped in meanwhile is not read). Anything else is ignored, never repaired, and
nothing is written into a folder that would not be read.

Writing: to a temporary file in the same folder, then `os.replace`, so a reader sees the old
entry or the new one, never half of one, while several processes (daemons) write at once.

Small: at most MAX_ENTRIES entries; the one used longest ago goes first (a hit touches its
entry). A temporary file a killed writer left goes once it is an hour older than the newest
entry.

Never in the way: a failure to read (truncated file, unpickling error, a class that changed)
is a miss, and a failure to write (read-only home, full disk) is ignored.
"""

from __future__ import annotations

import contextlib
import copyreg
import io
import os
import pickle
import stat
import tempfile
from collections.abc import Mapping
from pathlib import Path
from types import MappingProxyType
from typing import Any

CACHE_DIR_VARIABLE = "GUANXI_CACHE_DIR"
OFF = "off"
MAX_ENTRIES = 32
ENTRY_SUFFIX = ".pickle"
PART_SUFFIX = ".part"  # a write in progress, or one a killed writer left
STALE_PART_NS = 3600 * 10**9
FOREIGN_WRITE = stat.S_IWGRP | stat.S_IWOTH


def cache_folder(kind: str, environ: Mapping[str, str] | None = None) -> Path | None:
    """The folder for entries of `kind`, or None when the disk cache is off (or no home)."""
    env = os.environ if environ is None else environ
    chosen = env.get(CACHE_DIR_VARIABLE, "")
    if chosen.strip().lower() == OFF:
        return None
    if chosen:
        return Path(chosen) / kind
    xdg = env.get("XDG_CACHE_HOME", "")
    if os.path.isabs(xdg):
        return Path(xdg) / "guanxi" / kind
    try:
        home = Path(env["HOME"]) if env.get("HOME") else Path.home()
    except RuntimeError:  # no HOME and no password entry
        return None
    return home / ".cache" / "guanxi" / kind


def load(folder: Path, name: str) -> Any:
    """The value stored as `name`, or None: absent, untrusted or unreadable."""
    path = folder / name
    try:
        if not _trusted(os.stat(folder), directory=True):
            return None
        with open(os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0)), "rb") as file:
            if not _trusted(os.fstat(file.fileno()), directory=False):
                return None
            data = file.read()
        value = pickle.loads(data)
    except Exception:  # unpickling can raise nearly anything; every failure is a miss
        return None
    with contextlib.suppress(OSError):
        os.utime(path)  # used now: the last to be dropped
    return value


def store(folder: Path, name: str, value: Any) -> None:
    """Keep `value` as `name` (replacing it), then drop the entries used longest ago."""
    try:
        data = dumps(value)
        _prepare(folder)
        handle, part = tempfile.mkstemp(dir=folder, prefix=".", suffix=PART_SUFFIX)
        try:
            with open(handle, "wb") as file:
                file.write(data)
            os.replace(part, folder / name)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(part)
            raise
        _bound(folder)
    except Exception:  # a full disk, a read-only home, a value pickle refuses: no entry
        return


def dumps(value: Any) -> bytes:
    """`value` pickled, read-only mappings (types.MappingProxyType) included."""
    buffer = io.BytesIO()
    pickler = pickle.Pickler(buffer, pickle.HIGHEST_PROTOCOL)
    pickler.dispatch_table = {**copyreg.dispatch_table, MappingProxyType: _reduce_proxy}
    pickler.dump(value)
    return buffer.getvalue()


def _reduce_proxy(proxy: MappingProxyType[Any, Any]) -> tuple[Any, tuple[dict[Any, Any]]]:
    return _read_only, (dict(proxy),)


def _read_only(mapping: dict[Any, Any]) -> MappingProxyType[Any, Any]:
    """Rebuilds a read-only mapping when unpickled (pickle cannot name the proxy's type)."""
    return MappingProxyType(mapping)


def _trusted(status: os.stat_result, directory: bool) -> bool:
    kind_ok = stat.S_ISDIR(status.st_mode) if directory else stat.S_ISREG(status.st_mode)
    return kind_ok and status.st_uid == os.getuid() and not status.st_mode & FOREIGN_WRITE


def _prepare(folder: Path) -> None:
    """Create `folder` and the one above it 0700 where missing; refuse an untrusted one."""
    folder.parent.parent.mkdir(parents=True, exist_ok=True)
    for made in (folder.parent, folder):
        with contextlib.suppress(FileExistsError):
            made.mkdir(mode=0o700)
    if not _trusted(os.stat(folder), directory=True):
        raise PermissionError(f"{folder} is not the user's own")


def _bound(folder: Path) -> None:
    entries: list[tuple[int, str]] = []
    parts: list[tuple[int, str]] = []
    with os.scandir(folder) as found:
        for entry in found:
            with contextlib.suppress(OSError):
                kept = (entry.stat(follow_symlinks=False).st_mtime_ns, entry.path)
                if entry.name.endswith(ENTRY_SUFFIX):
                    entries.append(kept)
                elif entry.name.endswith(PART_SUFFIX):
                    parts.append(kept)
    entries.sort()
    newest = entries[-1][0] if entries else 0
    dropped = entries[: max(0, len(entries) - MAX_ENTRIES)]
    dropped += [p for p in parts if p[0] < newest - STALE_PART_NS]
    for _mtime, path in dropped:
        with contextlib.suppress(OSError):  # another process may have dropped it first
            os.unlink(path)
