"""The characters the screen treats as letters of a word for a missing value (ＮＵＬＬ typed
in full width) are kept as a list, not searched for at the start of every night: the list
must be what the search finds."""

from __future__ import annotations

import unicodedata

import pytest

from guanxi.engine.ingest import lookalikes
from guanxi.engine.ingest.lookalikes import FOUND_IN, missing_lookalikes, searched


def test_the_list_is_what_the_search_finds() -> None:
    assert unicodedata.unidata_version in FOUND_IN  # else the list is not what is tested
    assert missing_lookalikes() == searched()


def test_the_list_holds_the_letters_and_their_lookalikes() -> None:
    found = set(missing_lookalikes())
    assert set("NULnulAEOaeo\\") <= found
    assert {"Ｎ", "ｎ", "＼", "ℕ", "Ⓝ", "𝐍"} <= found
    assert not {"M", "Ｍ", "#", "0"} & found


def test_another_unicode_version_is_searched(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(lookalikes, "FOUND_IN", frozenset())
    monkeypatch.setattr(lookalikes, "LOOKALIKES", "4d")  # M: wrong, and not read
    assert missing_lookalikes() == searched()
