"""The daemon asks before every send whether its rule folder changed: `FolderWatch` answers
from a stat of what its last walk saw, and walks the folder again only when one moved, with
the same fingerprint a full walk gives after any edit."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import pytest

from guanxi.engine.daemon import reload
from guanxi.engine.daemon.reload import FolderWatch, fingerprint


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    (tmp_path / "tiers.yaml").write_text("tiers: []\n", "utf-8")
    (tmp_path / "tests").mkdir()
    (tmp_path / "tests" / "a.yaml").write_text("name: a\n", "utf-8")
    return tmp_path


def later(path: Path) -> None:
    """Move the file's time on, as an edit a moment later does (timestamps can be coarse)."""
    stat = path.stat()
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000_000))


def edit_in_place(folder: Path) -> None:
    path = folder / "tiers.yaml"
    path.write_text("tiers: [x]\n", "utf-8")
    later(path)


def add_file(folder: Path) -> None:
    (folder / "levels.yaml").write_text("levels: []\n", "utf-8")
    later(folder)


def remove_file(folder: Path) -> None:
    (folder / "tests" / "a.yaml").unlink()
    later(folder / "tests")


def add_subfolder(folder: Path) -> None:
    (folder / "branches").mkdir()
    (folder / "branches" / "b.yaml").write_text("branch: b\n", "utf-8")
    later(folder)


def replace_by_rename(folder: Path) -> None:
    """As editors save: a new file written beside, then renamed over the old one."""
    (folder / "tiers.yaml.tmp").write_text("tiers: [y]\n", "utf-8")
    os.replace(folder / "tiers.yaml.tmp", folder / "tiers.yaml")
    later(folder)


@pytest.mark.parametrize(
    "change", [edit_in_place, add_file, remove_file, add_subfolder, replace_by_rename]
)
def test_every_edit_is_seen_as_a_full_walk_sees_it(
    folder: Path, change: Callable[[Path], None]
) -> None:
    watch = FolderWatch(folder)
    before = watch.fingerprint()
    change(folder)
    assert watch.fingerprint() == fingerprint(folder) != before


def test_the_folder_is_not_walked_again_while_nothing_moved(
    folder: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    expected = fingerprint(folder)
    walks: list[Path] = []
    walk = reload._walk

    def counted(path: Path) -> tuple[list[Path], list[Path]]:
        walks.append(path)
        return walk(path)

    monkeypatch.setattr(reload, "_walk", counted)
    watch = FolderWatch(folder)
    first = [watch.fingerprint() for _ in range(100)]
    assert len(walks) == 1 and first == [expected] * 100
    edit_in_place(folder)
    watch.fingerprint()
    assert len(walks) == 2
