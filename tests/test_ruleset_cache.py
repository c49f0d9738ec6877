"""A validated rule project kept on disk (engine/ruleset/kept.py, engine/cache/): the next
process reads it instead of validating again, with the same result; whatever could change
the result is a miss; an entry that cannot be trusted or read is ignored; a cache that cannot
be written never gets in the way."""

from __future__ import annotations

import datetime as dt
import errno
import os
import pickle
import shutil
import subprocess
import sys
import tempfile
import zoneinfo
from collections.abc import Callable, Iterable
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from guanxi.engine.cache import folder as cache
from guanxi.engine.i18n import language
from guanxi.engine.ruleset import Validation, load, validate_project
from guanxi.engine.ruleset import kept as kept_module
from guanxi.engine.ruleset.fingerprint import project_fingerprint
from tests.test_validate_golden import make_project

ROOT = Path(__file__).parent.parent
RULES = ROOT / "rules"
# with errors, warnings, full-width repairs, an Excel decision table, broken YAML
CASES = ("warnings", "unknown_field", "fullwidth_operators", "bad_table_xlsx", "malformed_yaml")

Reading = Callable[..., tuple[bool, Validation]]
Unchanged = tuple[Path, Validation]  # a project no test edits, and its validation

READ_IN_A_NEW_PROCESS = """
import sys
from guanxi.engine.cache.folder import dumps
from guanxi.engine.i18n import use_language
from guanxi.engine.ruleset import load

validated = []
fresh = load._validate
load._validate = lambda folder, shown: validated.append(str(folder)) or fresh(folder, shown)
use_language(sys.argv[1])
results = [load.validate_project(folder) for folder in sys.argv[2:]]
sys.stdout.buffer.write(dumps((validated, results)))
"""


def in_new_process(
    folders: Iterable[Path], cache_dir: Path, lang: str = "en", path: Iterable[Path] = ()
) -> tuple[list[str], list[Validation]]:
    """The folders validated by a new Python process: the ones it had to validate itself
    (the others it read from the cache), and every result."""
    env = {**os.environ, "GUANXI_CACHE_DIR": str(cache_dir)}
    paths = [*map(str, path), env.get("PYTHONPATH", "")]
    env["PYTHONPATH"] = os.pathsep.join(p for p in paths if p)
    command = [sys.executable, "-c", READ_IN_A_NEW_PROCESS, lang, *map(str, folders)]
    done = subprocess.run(command, env=env, capture_output=True, check=False)
    assert done.returncode == 0, done.stderr.decode()
    found: tuple[list[str], list[Validation]] = pickle.loads(done.stdout)
    return found


def fresh(folder: Path, shown: str | None = None) -> Validation:
    """The project validated from its files, with no cache of any kind."""
    return load._validate(folder, shown)


def rules_copy(folder: Path) -> Path:
    shutil.copytree(RULES, folder, ignore=shutil.ignore_patterns("*.db*", "__pycache__"))
    return folder


def business_days(validation: Validation, year: int) -> list[dt.date]:
    assert validation.ruleset is not None
    calendar = validation.ruleset.calendar
    days = (dt.date(year, 1, 1) + dt.timedelta(days=n) for n in range(365))
    return [day for day in days if calendar.is_business_day(day)]


@pytest.fixture
def cache_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("GUANXI_CACHE_DIR", str(tmp_path / "cache"))
    return tmp_path / "cache"


@pytest.fixture
def project(tmp_path: Path) -> Path:
    return rules_copy(tmp_path / "rules")


@pytest.fixture
def reading(cache_dir: Path, monkeypatch: pytest.MonkeyPatch) -> Reading:
    """validate_project as a new process runs it (nothing kept in memory): whether it had to
    validate the project, and the result."""
    calls: list[Path | str] = []
    validate = load._validate

    def counted(folder: Path | str, shown: Path | str | None) -> Validation:
        calls.append(folder)
        return validate(folder, shown)

    monkeypatch.setattr(load, "_validate", counted)

    def read(folder: Path, shown: str | None = None) -> tuple[bool, Validation]:
        monkeypatch.setattr(load, "_READ", {})
        calls.clear()
        result = validate_project(folder, shown)
        return bool(calls), result

    return read


def entries(cache_dir: Path) -> list[Path]:
    return sorted((cache_dir / kept_module.KIND).glob("*.pickle"))


# --- the next process ----------------------------------------------------------------------


def test_a_second_process_reads_what_the_first_validated(tmp_path: Path, cache_dir: Path) -> None:
    folders = [rules_copy(tmp_path / "valid")]
    folders += [make_project(tmp_path / case, case) for case in CASES]
    validated, first = in_new_process(folders, cache_dir)
    assert validated == [str(f) for f in folders]
    validated, second = in_new_process(folders, cache_dir)
    assert validated == []
    for folder, before, after in zip(folders, first, second, strict=True):
        assert after == before == fresh(folder)
    diagnostics = [d for v in second for d in v.diagnostics]
    assert {"error", "warning"} <= {d.severity for d in diagnostics}
    assert second[0].ok and any(v.repairs for v in second)
    assert business_days(second[0], 2027) == business_days(fresh(folders[0]), 2027)


def test_a_second_process_in_chinese_reads_the_chinese_reading(
    tmp_path: Path, cache_dir: Path
) -> None:
    folder = make_project(tmp_path, "unknown_field")
    english = in_new_process([folder], cache_dir)[1][0]
    validated, (first,) = in_new_process([folder], cache_dir, lang="zh")
    assert validated == [str(folder)]
    validated, (second,) = in_new_process([folder], cache_dir, lang="zh")
    assert validated == []
    with language("zh"):
        assert second == first == fresh(folder)
    assert second.diagnostics[0].message != english.diagnostics[0].message
    assert "没有" in second.diagnostics[0].message


# --- what is read again ----------------------------------------------------------------------


def edit(path: Path, old: str, new: str) -> None:
    text = path.read_text(encoding="utf-8")
    assert old in text
    path.write_text(text.replace(old, new, 1), encoding="utf-8")


def gold_percent(v: Validation) -> object:
    return v.ruleset and v.ruleset.gold and v.ruleset.gold.top_percent


def strategy_label(v: Validation) -> object:
    return v.ruleset and v.ruleset.strategies and v.ruleset.strategies.rules[0].label


def scenario_names(v: Validation) -> list[str]:
    assert v.ruleset is not None
    return [s.name for f in v.ruleset.scenarios for s in f.scenarios]


EDITS: dict[str, tuple[Callable[[Path], object], Callable[[Validation], object], object]] = {
    "a rule file": (
        lambda p: edit(p / "tiers.yaml", "top_percent: 5", "top_percent: 4"),
        gold_percent,
        4,
    ),
    "a decision table": (
        lambda p: edit(p / "strategies.csv", "金牌客户:个性化组合套餐", "金牌客户:组合套餐"),
        strategy_label,
        "金牌客户:组合套餐",
    ),
    "a scenario": (
        lambda p: edit(p / "tests" / "tiers_and_levels.yaml", "睡眠客户 an empty", "睡眠 empty"),
        lambda v: sum(n.startswith("睡眠 empty") for n in scenario_names(v)),
        1,
    ),
    "a new scenario file": (
        lambda p: shutil.copy(p / "tests" / "lifecycle.yaml", p / "tests" / "more.yaml"),
        lambda v: v.ruleset and len(v.ruleset.scenarios),
        len(list((RULES / "tests").glob("*.yaml"))) + 1,
    ),
    "any new file": (lambda p: (p / "NOTES.txt").write_text("见下"), lambda v: v.ok, True),
}


@pytest.mark.parametrize("change", EDITS)
def test_a_changed_project_is_validated_again(reading: Reading, project: Path, change: str) -> None:
    apply, seen, expected = EDITS[change]
    assert reading(project)[0]
    assert reading(project) == (False, fresh(project))
    apply(project)
    validated, result = reading(project)
    assert validated and seen(result) == expected
    assert result == fresh(project)
    assert reading(project) == (False, result)


def test_another_language_is_validated_again(reading: Reading, tmp_path: Path) -> None:
    folder = make_project(tmp_path, "unknown_field")
    english = reading(folder)[1]
    with language("zh"):
        validated, chinese = reading(folder)
        assert validated and chinese == fresh(folder)
        assert reading(folder) == (False, chinese)
    assert chinese.diagnostics != english.diagnostics
    assert reading(folder) == (False, english)


def test_another_name_or_place_is_validated_again(
    reading: Reading, project: Path, tmp_path: Path
) -> None:
    reading(project)
    validated, shown = reading(project, "my-rules")
    assert validated and shown == fresh(project, "my-rules")
    assert shown.ruleset is not None
    assert shown.ruleset.scenarios[0].file.startswith("my-rules/tests/")
    moved = shutil.copytree(project, tmp_path / "moved")
    validated, elsewhere = reading(moved)
    assert validated and elsewhere.ruleset is not None
    assert elsewhere.ruleset.root == moved.resolve()


def test_the_key_changes_with_every_file_of_the_project(project: Path) -> None:
    place = (str(project.resolve()), str(project), "en")

    def key() -> str:
        return kept_module.entry_key(place, project_fingerprint(project))

    before = key()
    files = sorted(p for p in project.rglob("*") if p.is_file())
    assert len(files) > 10
    for path in files:
        original = path.read_bytes()
        path.write_bytes(original + b"\n")
        assert key() != before, path
        path.write_bytes(original)
    assert key() == before
    others = [(place[0] + "x", *place[1:]), (place[0], "x", "en"), (*place[:2], "zh")]
    fingerprint = project_fingerprint(project)
    assert before not in {kept_module.entry_key(p, fingerprint) for p in others}


@settings(max_examples=50, deadline=None)
@given(st.binary(max_size=40), st.binary(max_size=40))
def test_the_fingerprint_follows_the_bytes(first: bytes, second: bytes) -> None:
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder, "tiers.yaml")
        path.write_bytes(first)
        before = project_fingerprint(Path(folder))
        path.write_bytes(second)
        assert (project_fingerprint(Path(folder)) == before) == (first == second)


def test_the_key_follows_the_code_the_adapters_and_the_time_zones(
    project: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    place = (str(project), str(project), "en")
    fingerprint = project_fingerprint(project)
    keys = {kept_module.entry_key(place, fingerprint)}
    monkeypatch.setattr(kept_module, "code_mark", lambda: "another release")
    keys.add(kept_module.entry_key(place, fingerprint))
    monkeypatch.syspath_prepend(str(bank_adapter(tmp_path / "site", "url")))
    keys.add(kept_module.entry_key(place, fingerprint))
    zones = tmp_path / "zones"
    zones.mkdir()
    monkeypatch.setattr(zoneinfo, "TZPATH", (str(zones),))
    keys.add(kept_module.entry_key(place, fingerprint))
    (zones / "tzdata.zi").write_text("# version 2099a\n")
    keys.add(kept_module.entry_key(place, fingerprint))
    assert len(keys) == 5


LIBRARIES_USED = """
import importlib.metadata, sys
before = set(sys.modules)
from guanxi.engine.ruleset import validate_project
from guanxi.engine.sheets import SheetError, sheet_rows
validate_project(sys.argv[1])
try:
    list(sheet_rows(b"not a workbook"))
except SheetError:
    pass
tops = {name.partition(".")[0] for name in set(sys.modules) - before}
found = importlib.metadata.packages_distributions()
print("\\n".join(sorted({d for top in tops for d in found.get(top, [])})))
"""


def normal(name: str) -> str:
    return name.lower().replace("_", "-").replace(".", "-")


def test_the_key_covers_every_library_validation_runs(tmp_path: Path) -> None:
    env = {**os.environ, "GUANXI_CACHE_DIR": "off"}
    command = [sys.executable, "-c", LIBRARIES_USED, str(make_project(tmp_path, "bad_table_xlsx"))]
    done = subprocess.run(command, env=env, capture_output=True, text=True, check=True)
    used = {normal(n) for n in done.stdout.split()} - {"guanxi"}
    assert {"pydantic", "ruamel-yaml", "openpyxl", "holidays"} <= used
    assert used <= {normal(n) for n in kept_module.LIBRARIES}


# --- adapters of other distributions ---------------------------------------------------------


def bank_adapter(site: Path, option: str) -> Path:
    """A distribution on `site` with the adapter `bank`, which takes `option`."""
    info = site / "bank_adapter-1.0.dist-info"
    info.mkdir(parents=True, exist_ok=True)
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: bank-adapter\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text("[guanxi.adapters]\nbank = bank_adapter:BankAdapter\n")
    (site / "bank_adapter.py").write_text(
        "from guanxi.adapters.base import Adapter\n\n"
        "class BankAdapter(Adapter):\n"
        f"    def __init__(self, {option}: str, address_fields=None) -> None:\n"
        "        super().__init__(address_fields=address_fields)\n\n"
        "    def send(self, message):\n"
        "        raise NotImplementedError\n"
    )
    return site


def test_an_adapter_edited_in_place_is_validated_again(
    tmp_path: Path, project: Path, cache_dir: Path
) -> None:
    """An editable install of the bank's own adapter: its code changes, its version not."""
    site = bank_adapter(tmp_path / "site", "url")
    channel = "online_banking: {adapter: bank, url: x}"
    edit(project / "guanxi.yaml", "online_banking: outbox", channel)
    validated, (first,) = in_new_process([project], cache_dir, path=[site])
    assert validated and first.ok
    assert in_new_process([project], cache_dir, path=[site])[0] == []
    bank_adapter(site, "endpoint")
    validated, (after,) = in_new_process([project], cache_dir, path=[site])
    assert validated
    assert {d.code for d in after.diagnostics} == {"unknown-option", "missing-option"}


# --- links, and files the fingerprint leaves out --------------------------------------------


def test_scenarios_linked_from_outside_are_validated_again_when_that_folder_changes(
    reading: Reading, project: Path, tmp_path: Path
) -> None:
    outside = shutil.move(project / "tests", tmp_path / "shared-tests")
    (project / "tests").symlink_to(outside)
    before = reading(project)[1]
    shutil.copy(Path(outside) / "lifecycle.yaml", Path(outside) / "more.yaml")
    validated, after = reading(project)
    assert validated and after == fresh(project)
    assert len(after.diagnostics) == len(before.diagnostics) + 1


def test_a_link_that_comes_to_lead_somewhere_is_validated_again(
    reading: Reading, project: Path, tmp_path: Path
) -> None:
    target = tmp_path / "elsewhere" / "templates.yaml"
    (project / "templates.yaml").unlink()
    (project / "templates.yaml").symlink_to(target)
    nowhere = reading(project)[1]
    target.parent.mkdir()
    shutil.copy(RULES / "templates.yaml", target)
    validated, somewhere = reading(project)
    assert validated and somewhere == fresh(project)
    assert [d.code for d in nowhere.diagnostics] != [d.code for d in somewhere.diagnostics]


def test_a_file_the_fingerprint_leaves_out_is_never_kept(
    reading: Reading, project: Path, cache_dir: Path
) -> None:
    """A file named like a store is not hashed (the store changes all day): a project that
    reads one is validated each time."""
    with (project / "guanxi.yaml").open("a", encoding="utf-8") as settings_file:
        settings_file.write("calendar_overrides: days.db\n")
    (project / "days.db").write_text("date,status,name\n2027-02-03,holiday,盘点\n")
    assert reading(project)[0]
    assert reading(project)[0]
    (project / "days.db").write_text("date,status,name\n2027-02-03,working,调休\n")
    validated, result = reading(project)
    assert validated and result.ruleset is not None
    assert result.ruleset.calendar.overrides == {dt.date(2027, 2, 3): True}
    assert entries(cache_dir) == []


def test_a_project_edited_while_it_is_read_is_not_kept(
    reading: Reading, project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    tiers = project / "tiers.yaml"
    original = tiers.read_bytes()
    validate = load._validate

    def edited_meanwhile(folder: Path | str, shown: Path | str | None) -> Validation:
        result = validate(folder, shown)
        tiers.write_bytes(original + b"# edited\n")
        return result

    monkeypatch.setattr(load, "_validate", edited_meanwhile)
    reading(project)
    tiers.write_bytes(original)
    monkeypatch.setattr(load, "_validate", validate)
    assert reading(project)[0]


# --- entries that are not read -------------------------------------------------------------


@pytest.fixture(scope="module")
def unchanged(tmp_path_factory: pytest.TempPathFactory) -> Unchanged:
    """A copy of the default project that no test edits, and its validation."""
    folder = rules_copy(tmp_path_factory.mktemp("unchanged") / "rules")
    return folder, fresh(folder)


def truncated(entry: Path) -> None:
    entry.write_bytes(entry.read_bytes()[:1000])


def another_key(entry: Path) -> None:
    found = pickle.loads(entry.read_bytes())
    entry.write_bytes(cache.dumps((found[0], "0" * 64, *found[2:])))


DAMAGE: dict[str, Callable[[Path], object]] = {
    "truncated": truncated,
    "not a pickle": lambda entry: entry.write_bytes(b"\x00 not a pickle"),
    "a class that is gone": lambda entry: entry.write_bytes(
        b"cguanxi.engine.ruleset.kept\nGone\n."
    ),
    "another key inside": another_key,
    "empty": lambda entry: entry.write_bytes(b""),
}


@pytest.mark.parametrize("damage", DAMAGE)
def test_a_damaged_entry_is_a_miss_and_is_written_again(
    reading: Reading, unchanged: Unchanged, cache_dir: Path, damage: str
) -> None:
    project, expected = unchanged
    reading(project)
    (entry,) = entries(cache_dir)
    DAMAGE[damage](entry)
    validated, result = reading(project)
    assert validated and result == expected
    assert reading(project) == (False, result)


def group_writable_folder(cache_dir: Path, entry: Path) -> None:
    (cache_dir / kept_module.KIND).chmod(0o770)


def linked_entry(cache_dir: Path, entry: Path) -> None:
    real = entry.rename(cache_dir / "elsewhere.pickle")
    entry.symlink_to(real)


# how it was made untrusted; whether it stays so (nothing is written into such a folder) or
# the entry is written again, the user's own
UNTRUSTED: dict[str, tuple[Callable[[Path, Path], None], bool]] = {
    "a folder the group may write": (group_writable_folder, True),
    "an entry others may write": (lambda _cache, entry: entry.chmod(0o606), False),
    "an entry that is a link": (linked_entry, False),
}


@pytest.mark.parametrize("untrusted", UNTRUSTED)
def test_an_entry_anyone_else_could_have_written_is_ignored(
    reading: Reading, unchanged: Unchanged, cache_dir: Path, untrusted: str
) -> None:
    project, expected = unchanged
    reading(project)
    (entry,) = entries(cache_dir)
    loosen, stays = UNTRUSTED[untrusted]
    loosen(cache_dir, entry)
    validated, result = reading(project)
    assert validated and result == expected
    assert reading(project) == (stays, result)


def test_an_entry_of_another_user_is_ignored(
    reading: Reading, unchanged: Unchanged, monkeypatch: pytest.MonkeyPatch
) -> None:
    project, expected = unchanged
    reading(project)
    monkeypatch.setattr(os, "getuid", lambda: 4242)  # the folder and entry are now another's
    validated, result = reading(project)
    assert validated and result == expected


# --- a cache that cannot be used --------------------------------------------------------------


def test_a_cache_folder_that_cannot_be_made_leaves_validation_as_it_was(
    reading: Reading, unchanged: Unchanged, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    project, expected = unchanged
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    monkeypatch.setenv("GUANXI_CACHE_DIR", str(blocker / "cache"))
    for _ in range(2):
        validated, result = reading(project)
        assert validated and result == expected


def test_a_full_disk_leaves_validation_as_it_was(
    reading: Reading, unchanged: Unchanged, cache_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    project, expected = unchanged

    def full(*_args: object) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "replace", full)
    validated, result = reading(project)
    assert validated and result == expected
    assert list((cache_dir / kept_module.KIND).iterdir()) == []  # no half-written file left


def test_off_keeps_nothing_on_disk(
    reading: Reading, unchanged: Unchanged, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    project = unchanged[0]
    monkeypatch.setenv("GUANXI_CACHE_DIR", "off")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert reading(project)[0]
    assert reading(project)[0]
    assert not (tmp_path / "home").exists() and not (tmp_path / "xdg").exists()
