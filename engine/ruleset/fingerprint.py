"""A rule project's fingerprint: a hash of every file under its folder, names and bytes, so
a reading can be kept (in the process, on disk) while it is unchanged.

Left out, because they change all day without changing a rule: a store's files (`*.db` and
SQLite's companions) and bytecode caches. A reading that uses one of those anyway (a rule
naming `guanxi.db`) is kept nowhere (`unhashed`). Links are hashed with their target and what
that holds, not followed into folders: a file's bytes, a folder's names (a project's own files
are hashed where they are; a file outside is refused, by name, when the project is read).
"""

from __future__ import annotations

import hashlib
import os
import stat
from pathlib import Path

NOT_PROJECT_FILES = (".db", ".db-wal", ".db-shm", ".db-journal")
NOT_PROJECT_FOLDERS = ("__pycache__",)
LARGEST_HASHED = 20_000_000


def unhashed(name: str) -> bool:
    """The file `name` (in the project, or as shown) is one the fingerprint leaves out."""
    return name.endswith(NOT_PROJECT_FILES) or any(
        part in NOT_PROJECT_FOLDERS for part in Path(name).parts
    )


def project_fingerprint(folder: Path) -> str:
    """A hash of the names and contents of every file under `folder` (not a store's; a file
    too large to be a rule file by its size and time). Links are not followed into folders:
    a link is hashed with its target and what that holds (a file's bytes, a folder's names)."""
    digest = hashlib.sha256()
    for top, folders, names in os.walk(folder):
        folders[:] = sorted(f for f in folders if f not in NOT_PROJECT_FOLDERS)
        linked = [f for f in folders if os.path.islink(os.path.join(top, f))]
        for name in sorted([*(n for n in names if not n.endswith(NOT_PROJECT_FILES)), *linked]):
            path = Path(top, name)
            digest.update(str(path.relative_to(folder)).encode() + b"\0")
            digest.update(_content_mark(path))
    return digest.hexdigest()


def _content_mark(path: Path) -> bytes:
    try:
        status = path.lstat()
        if stat.S_ISLNK(status.st_mode):
            return b"-> " + os.fsencode(os.readlink(path)) + b"\0" + _target_mark(path)
        return _file_mark(path, status)
    except OSError:  # unreadable: the reading reports it; never kept as if unchanged
        return os.urandom(16)


def _file_mark(path: Path, status: os.stat_result) -> bytes:
    if status.st_size > LARGEST_HASHED or not stat.S_ISREG(status.st_mode):
        return f"{status.st_size}:{status.st_mtime_ns}:{status.st_mode}".encode()
    return path.read_bytes()


def _target_mark(link: Path) -> bytes:
    """What a link leads to. Outside the project a file is refused and a folder's files too,
    by name: its names are what the reading shows. Inside, files are also hashed where they
    are."""
    try:
        status = link.stat()
    except FileNotFoundError:
        return b"nowhere"
    if stat.S_ISDIR(status.st_mode):
        return b"\0".join(sorted(os.fsencode(n) for n in os.listdir(link)))
    return _file_mark(link, status)
