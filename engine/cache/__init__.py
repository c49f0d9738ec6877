"""Results kept on disk between processes, so the next command need not compute them again.

    folder = cache_folder("projects")          # None: the disk cache is off
    found = load(folder, name)                 # None: a miss, whatever went wrong
    store(folder, name, value)                 # never raises: the cache is an optimisation

`folder.py` says where entries live, whom they are trusted from and how the folder stays
small; `installed.py` marks the code a process runs, for keys that must change with it.
"""

from guanxi.engine.cache.folder import CACHE_DIR_VARIABLE, OFF, cache_folder, load, store
from guanxi.engine.cache.installed import (
    distribution_mark,
    files_mark,
    python_mark,
    versions_mark,
)

__all__ = [
    "CACHE_DIR_VARIABLE",
    "OFF",
    "cache_folder",
    "distribution_mark",
    "files_mark",
    "load",
    "python_mark",
    "store",
    "versions_mark",
]
