"""The disk cache's folder (engine/cache/): where it is, that it is the user's alone, that it
stays small, that readers never see half an entry; and the marks of installed code its keys
are made of."""

from __future__ import annotations

import os
import tempfile
import threading
from pathlib import Path
from types import MappingProxyType

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from guanxi.engine.cache import folder as cache
from guanxi.engine.cache import installed


@pytest.mark.parametrize(
    ("environ", "expected"),
    [
        ({"GUANXI_CACHE_DIR": "/c", "XDG_CACHE_HOME": "/x", "HOME": "/h"}, "/c/projects"),
        ({"GUANXI_CACHE_DIR": "OFF", "HOME": "/h"}, None),
        ({"XDG_CACHE_HOME": "/x", "HOME": "/h"}, "/x/guanxi/projects"),
        ({"XDG_CACHE_HOME": "relative", "HOME": "/h"}, "/h/.cache/guanxi/projects"),
        ({"GUANXI_CACHE_DIR": "", "HOME": "/h"}, "/h/.cache/guanxi/projects"),
    ],
)
def test_where_the_cache_is(environ: dict[str, str], expected: str | None) -> None:
    found = cache.cache_folder("projects", environ)
    assert (str(found) if found else None) == expected


def test_folders_are_made_for_the_user_alone(tmp_path: Path) -> None:
    folder = cache.cache_folder("projects", {"HOME": str(tmp_path / "home")})
    assert folder is not None
    cache.store(folder, "a.pickle", {"x": 1})
    assert cache.load(folder, "a.pickle") == {"x": 1}
    for made in (folder, folder.parent):
        assert made.stat().st_mode & 0o777 == 0o700
    assert (folder / "a.pickle").stat().st_mode & 0o777 == 0o600


def test_the_folder_keeps_the_entries_used_last(tmp_path: Path) -> None:
    folder = tmp_path / "cache" / "projects"
    for number in range(cache.MAX_ENTRIES):
        cache.store(folder, f"{number}.pickle", number)
        os.utime(folder / f"{number}.pickle", ns=(10**18 + number, 10**18 + number))
    (folder / ".left-by-a-crash.part").write_bytes(b"half")
    os.utime(folder / ".left-by-a-crash.part", ns=(10**18, 10**18))
    assert cache.load(folder, "0.pickle") == 0  # the oldest, used now
    cache.store(folder, "new.pickle", "new")
    kept = {p.name for p in folder.iterdir()}
    assert len(kept) == cache.MAX_ENTRIES
    assert "1.pickle" not in kept and {"0.pickle", "new.pickle"} <= kept


def test_readers_never_see_half_an_entry(tmp_path: Path) -> None:
    """Writers replace the entry while a reader reads it: the reader gets one whole value or
    another, never a miss (a half-written file would not unpickle)."""
    folder = tmp_path / "cache" / "projects"
    values = [list(range(start, start + 50_000)) for start in range(3)]
    cache.store(folder, "same.pickle", values[0])
    stop = threading.Event()

    def write(value: list[int]) -> None:
        while not stop.is_set():
            cache.store(folder, "same.pickle", value)

    writers = [threading.Thread(target=write, args=(v,)) for v in values]
    for writer in writers:
        writer.start()
    try:
        seen = [cache.load(folder, "same.pickle") for _ in range(200)]
    finally:
        stop.set()
        for writer in writers:
            writer.join()
    assert all(value in values for value in seen)
    assert [p.name for p in folder.iterdir()] == ["same.pickle"]


values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text() | st.dates(),
    lambda inner: (
        st.lists(inner, max_size=4).map(tuple)
        | st.dictionaries(st.text(max_size=5), inner, max_size=4).map(MappingProxyType)
        | st.frozensets(st.integers(), max_size=4)
    ),
    max_leaves=12,
)


@settings(max_examples=50, deadline=None)
@given(values)
def test_what_is_stored_is_what_is_loaded(value: object) -> None:
    with tempfile.TemporaryDirectory() as top:
        folder = Path(top, "projects")
        cache.store(folder, "v.pickle", value)
        assert cache.load(folder, "v.pickle") == value


# --- marks of the code ------------------------------------------------------------------------


def test_guanxi_files_are_marked_by_name_size_and_time(tmp_path: Path) -> None:
    package = tmp_path / "engine"
    (package / "__pycache__").mkdir(parents=True)
    (package / "load.py").write_text("x = 1\n")
    marks = [installed.files_mark([package])]
    (package / "__pycache__" / "load.cpython-311.pyc").write_bytes(b"bytecode")
    (package / "notes.txt").write_text("not code")
    assert installed.files_mark([package]) == marks[0]
    os.utime(package / "load.py", ns=(10**18, 10**18))
    marks.append(installed.files_mark([package]))
    (package / "load.py").write_text("x = 22\n")
    os.utime(package / "load.py", ns=(10**18, 10**18))
    marks.append(installed.files_mark([package]))
    (package / "guanxi.mo").write_bytes(b"catalog")
    marks.append(installed.files_mark([package]))
    assert len(set(marks)) == 4


def test_libraries_are_marked_by_their_versions() -> None:
    from importlib.metadata import version

    mark = installed.versions_mark(["pydantic", "ruamel.yaml", "no-such-distribution"])
    assert mark.splitlines() == [
        f"pydantic {version('pydantic')}",
        f"ruamel.yaml {version('ruamel.yaml')}",
        "no-such-distribution -",
    ]


def test_code_not_in_a_folder_on_disk_matches_nothing(tmp_path: Path) -> None:
    """Imported from a zip archive, say: an edit could not be seen, so no mark repeats."""
    archive = tmp_path / "guanxi.zip" / "engine"
    assert installed.files_mark([archive]) != installed.files_mark([archive])
