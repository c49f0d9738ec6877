"""Marks of the code a process runs, for cache keys that must change when it changes.

All cheap: stat calls and installed metadata, no file is read. A mark is text; equal marks
mean the same code as far as an install, an upgrade or an edit can tell (a new release
changes a version, an edit a size or a modification time).
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterable
from importlib.metadata import Distribution, PackageNotFoundError
from pathlib import Path

SOURCE_SUFFIXES = (".py", ".mo")  # the code, and the compiled catalog of its messages


def files_mark(folders: Iterable[Path], suffixes: tuple[str, ...] = SOURCE_SUFFIXES) -> str:
    """Each folder's real path, then the name, size and modification time of every file
    ending in `suffixes` under it (bytecode caches left out). A folder that is not one on disk
    gets a mark of its own each time."""
    lines: list[str] = []
    for folder in folders:
        real = os.path.realpath(folder)
        lines.append(real)
        if not os.path.isdir(real):  # in a zip archive: an edit cannot be seen, match nothing
            lines.append(os.urandom(16).hex())
        for top, subfolders, names in os.walk(real):
            subfolders[:] = sorted(f for f in subfolders if f != "__pycache__")
            for name in sorted(n for n in names if n.endswith(suffixes)):
                path = os.path.join(top, name)
                status = os.stat(path)
                lines.append(f"{os.path.relpath(path, real)} {status.st_size} {status.st_mtime_ns}")
    return "\n".join(lines)


def versions_mark(distributions: Iterable[str]) -> str:
    """Each distribution's installed name and version ('-' when it is not installed)."""
    return "\n".join(_installed(name) for name in distributions)


def _installed(name: str) -> str:
    try:
        return distribution_mark(Distribution.from_name(name))
    except PackageNotFoundError:
        return f"{name} -"


def distribution_mark(distribution: Distribution) -> str:
    """Its name and version, from the head of its metadata: parsing all of it as e-mail
    headers, as `Distribution.version` does, takes milliseconds for each."""
    text = distribution.read_text("METADATA") or distribution.read_text("PKG-INFO") or ""
    found = {"Name": "-", "Version": "-"}
    for line in text.splitlines():
        if not line.strip():  # the headers end at the first empty line
            break
        key, _, value = line.partition(":")
        if key in found:
            found[key] = value.strip()
    return f"{found['Name']} {found['Version']}"


def python_mark() -> str:
    """The interpreter: its version and build, its implementation's bytecode tag, and whether
    `assert` statements run (-O)."""
    return f"{sys.version} {sys.implementation.cache_tag} -O{sys.flags.optimize}"
