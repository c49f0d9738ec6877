"""A validated rule project kept on disk, so the next process that reads the same project
skips parsing and checking it (some 0.7 s for the default project; reading the entry back
takes about 0.01 s).

`validate_project` (load.py) keeps its result within the process; on a miss there it asks
`kept_reading`, and stores what it validated with `keep_reading`. Entries are pickles in the
cache's `projects` folder (guanxi.engine.cache: where, whom to trust, at most 32 entries;
`GUANXI_CACHE_DIR=off` turns the disk cache off).

An entry is named by a hash of everything validation's result depends on:

- the project: its fingerprint (fingerprint.py: every file's name and bytes, a link by its
  target and what that holds), the resolved folder (the RuleSet's `root`, and what a relative
  name meant), the name it is shown by (diagnostics and scenario files are named by it) and
  the language (messages are translated);
- the code: the names, sizes and modification times of guanxi's engine and adapters (.py and
  .mo files), Python, and the version of every distribution whose code validation runs
  (LIBRARIES: what is stored holds pydantic models, sqlglot trees, a holidays calendar); taken
  once a process, as the code it loaded;
- the machine: the adapters installed (entry points `guanxi.adapters` with their distribution
  and version: `delivery:` is checked against their names and constructors) and the time-zone
  database (its search path, the modification times of its folders and `tzdata.zi`, the
  `tzdata` package: `timezone:` is checked against it).

Nothing else reaches validation: no clock (scenarios carry their own dates; templates are
tried on a fixed sample day), no environment variable but the language's (in the key), not
the current folder but through the resolved folder (in the key), no file outside the folder
(a named file must resolve inside it; holidays come from the `holidays` package). A reading
that used a file the fingerprint leaves out, or during which a file changed, is kept nowhere
(load.py).

An adapter's code can change without its version (an editable install of the bank's own): an
entry lists the source files of the adapter classes loaded when it was written, with sizes and
modification times, and is used only while they are unchanged.
"""

from __future__ import annotations

import hashlib
import inspect
import os
import sys
import zoneinfo
from functools import cache
from importlib.metadata import entry_points
from pathlib import Path
from types import ModuleType

import guanxi.adapters
import guanxi.engine
from guanxi.adapters.registry import GROUP
from guanxi.engine.cache import (
    cache_folder,
    distribution_mark,
    files_mark,
    load,
    python_mark,
    store,
    versions_mark,
)

KIND = "projects"
FORMAT = "guanxi-project-1"  # what an entry holds: (FORMAT, key, adapter files, Validation)
# Every distribution whose code runs while a project is validated (a test checks the list)
LIBRARIES = (
    "annotated-types",
    "apscheduler",
    "et-xmlfile",
    "holidays",
    "jinja2",
    "markupsafe",
    "mypy-extensions",
    "numpy",
    "openpyxl",
    "pydantic",
    "pydantic-core",
    "python-dateutil",
    "ruamel.yaml",
    "six",
    "sqlglot",
    "typing-extensions",
    "typing-inspection",
    "tzdata",
    "tzlocal",
)

Place = tuple[str, str, str]  # resolved folder, the name shown, the language
FileMark = tuple[str, int, int]  # path, size, modification time


def kept_reading(place: Place, fingerprint: str) -> object | None:
    """The validation kept for the project at `place` with `fingerprint`, or None."""
    folder = cache_folder(KIND)
    if folder is None:
        return None
    key = entry_key(place, fingerprint)
    found = load(folder, f"{key}.pickle")
    if not (isinstance(found, tuple) and len(found) == 4 and found[:2] == (FORMAT, key)):
        return None
    return found[3] if _unchanged(found[2]) else None


def keep_reading(place: Place, fingerprint: str, validation: object) -> None:
    """Keep `validation` of the project at `place` with `fingerprint` for other processes."""
    folder = cache_folder(KIND)
    if folder is not None:
        key = entry_key(place, fingerprint)
        store(folder, f"{key}.pickle", (FORMAT, key, _adapter_files(), validation))


def entry_key(place: Place, fingerprint: str) -> str:
    parts = (FORMAT, *place, fingerprint, code_mark(), _adapters_mark(), _zones_mark())
    return hashlib.sha256("\0".join(parts).encode(errors="surrogateescape")).hexdigest()


@cache
def code_mark() -> str:
    """guanxi's own files, Python and the libraries: once a process, the code it runs."""
    folders = [_folder(guanxi.engine), _folder(guanxi.adapters)]
    return "\n".join((python_mark(), files_mark(folders), versions_mark(LIBRARIES)))


def _folder(package: ModuleType) -> Path:
    return Path(package.__file__ or ".").parent


def _adapters_mark() -> str:
    lines = []
    for point in entry_points(group=GROUP):
        dist = distribution_mark(point.dist) if point.dist else "-"
        lines.append(f"{point.name}={point.value} {dist}")
    return "\n".join(sorted(lines))


def _zones_mark() -> str:
    lines = [repr(zoneinfo.TZPATH)]
    for folder in zoneinfo.TZPATH:
        lines += [_stat_line(folder), _stat_line(os.path.join(folder, "tzdata.zi"))]
    return "\n".join(lines)


def _stat_line(path: str) -> str:
    try:
        return f"{path} {os.stat(path).st_mtime_ns}"
    except OSError:
        return f"{path} -"


def _adapter_files() -> tuple[FileMark, ...]:
    """The files of the adapters loaded so far: each entry point's module and the modules of
    its class and that class's bases (an adapter not loaded mattered by its name only)."""
    files: set[str] = set()
    for point in entry_points(group=GROUP):
        module = sys.modules.get(point.module)
        if module is None:
            continue
        adapter = getattr(module, point.attr, None)
        classes = inspect.getmro(adapter) if isinstance(adapter, type) else ()
        for found in (module, *(sys.modules.get(c.__module__) for c in classes)):
            file = getattr(found, "__file__", None)
            if file:
                files.add(file)
    return tuple(mark for mark in map(_file_mark, sorted(files)) if mark is not None)


def _file_mark(path: str) -> FileMark | None:
    try:
        status = os.stat(path)
    except OSError:
        return None
    return path, status.st_size, status.st_mtime_ns


def _unchanged(files: object) -> bool:
    return isinstance(files, tuple) and all(_file_mark(mark[0]) == mark for mark in files)
