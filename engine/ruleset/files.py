"""Which files a rule project may read, and how much of them.

A rule file names other files (`decision_table:`, `calendar_overrides:`, a scenario file's
`population:`). Those names are the project's own files only: relative, without `..`, still
inside the project once symlinks are resolved, and regular files (not `/dev/zero`, not a
FIFO, not `/proc/self/environ`). Every read stops at a size limit, so a huge or endless file
costs at most that much memory.
"""

from __future__ import annotations

import os
import re
import stat
from pathlib import Path, PurePosixPath, PureWindowsPath

from guanxi.engine.i18n import _

MAX_RULE_BYTES = 1_000_000  # a YAML rule file over 1 MB is a data export saved by mistake
MAX_TABLE_BYTES = 5_000_000  # a CSV, JSONL or Excel table: some ten thousand rows at most
TABLE_SUFFIXES = (".csv", ".jsonl", ".xlsx")


class FileProblem(Exception):
    """A file name or file a rule project cannot use: `code`, `message` and a `hint`."""

    def __init__(self, code: str, message: str, hint: str | None = None) -> None:
        super().__init__(message)
        self.code, self.message, self.hint = code, message, hint


def size_limit(name: str) -> int:
    return MAX_TABLE_BYTES if name.lower().endswith(TABLE_SUFFIXES) else MAX_RULE_BYTES


def checked_name(name: str) -> str:
    """`name` as written in a rule file, if it is a plain relative name (FileProblem if not)."""
    hint = _("write the file's name relative to the rule project, e.g. 'tiers.csv'")
    if not name.strip():
        raise FileProblem("invalid-value", _("the file name is empty"), hint)
    if PurePosixPath(name).is_absolute() or PureWindowsPath(name).anchor:
        message = _("a rule project may only name its own files")
        raise FileProblem("outside-project", message, hint)
    if ".." in PurePosixPath(name.replace("\\", "/")).parts:
        message = _("'..' leads out of the rule project")
        raise FileProblem("outside-project", message, hint)
    return name


def locate(root: Path, name: str, folder: str = "") -> Path:
    """The real path of file `name` in `folder` of the project at `root`: an existing regular
    file inside the project after symlinks are resolved. FileProblem otherwise."""
    checked_name(name)
    top = root.resolve()
    try:
        path = (root / folder / name).resolve(strict=True)
    except FileNotFoundError:
        raise FileProblem(
            "missing-file", _("there is no file '{name}'").format(name=name)
        ) from None
    except (OSError, RuntimeError):  # a symlink loop, a name too long
        raise FileProblem(
            "missing-file", _("'{name}' cannot be opened").format(name=name)
        ) from None
    if not path.is_relative_to(top):
        hint = _("copy the file into the rule project instead of linking to it")
        message = _("'{name}' links to a file outside the project").format(name=name)
        raise FileProblem("outside-project", message, hint)
    if not path.is_file():
        raise FileProblem("not-a-file", _("'{name}' is not an ordinary file").format(name=name))
    return path


def read_bounded(path: Path, limit: int) -> bytes:
    """The bytes of a regular file of at most `limit` bytes, reading no more than that.
    Opened without blocking and checked again once open, so a file swapped for a FIFO or a
    device between `locate` and this read is refused too."""
    try:
        descriptor = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    except OSError as error:
        message = _("'{name}' cannot be read ({reason})").format(
            name=path.name, reason=error.strerror
        )
        raise FileProblem("missing-file", message) from None
    with os.fdopen(descriptor, "rb") as file:
        status = os.fstat(file.fileno())
        if not stat.S_ISREG(status.st_mode):
            message = _("'{name}' is not an ordinary file").format(name=path.name)
            raise FileProblem("not-a-file", message)
        raw = file.read(limit + 1)
    if len(raw) > limit:
        size = max(status.st_size, len(raw)) / 1_000_000
        raise FileProblem(
            "file-too-large",
            _("the file is {size} MB; this file may be at most {limit} MB").format(
                size=f"{size:.1f}", limit=f"{limit / 1_000_000:.0f}"
            ),
            _("is this a data export saved in the rule folder by mistake?"),
        )
    return raw


RULE_FILES = (
    "guanxi.yaml",
    "schema.yaml",
    "tiers.yaml",
    "levels.yaml",
    "strategies.yaml",
    "playbooks.yaml",
    "policies.yaml",
    "templates.yaml",
)
YAML_FOLDERS = ("branches", "tests")  # every *.yaml file in them is read
_YAML_NAME = re.compile(r"(?P<stem>.+)\.(?:yaml|yml)(?:\.txt)?", re.IGNORECASE)


def unread_yaml(root: Path) -> list[tuple[str, str]]:
    """YAML files a project would not read, as (name in the project, the name it reads):
    `policies.yml`, `Policies.yaml`, or `长沙分行.yaml.txt` (Windows hides the .txt that
    Notepad adds) beside or instead of the name guanxi looks for."""
    unread = [(name, write) for name in _names(root) if (write := _meant(name, RULE_FILES))]
    for folder in YAML_FOLDERS:
        for name in _names(root / folder):
            if write := _meant(name, None):
                unread.append((f"{folder}/{name}", f"{folder}/{write}"))
    return [(name, write) for name, write in unread if not _same(root / name, root / write)]


def _same(path: Path, other: Path) -> bool:
    """One file under two names: a file system that ignores case reads Policies.yaml."""
    try:
        return path.samefile(other)
    except OSError:
        return False


def _names(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.is_file()) if folder.is_dir() else []


def _meant(name: str, known: tuple[str, ...] | None) -> str | None:
    """The .yaml name `name` was meant to have, when it is not that already; with `known`,
    only one of those names."""
    match = _YAML_NAME.fullmatch(name)
    if match is None:
        return None
    write = f"{match['stem']}.yaml"
    if known is not None:
        write = next((k for k in known if k.casefold() == write.casefold()), "")
    return write if write and write != name else None
