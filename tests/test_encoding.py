"""Files saved by Chinese Excel and Notepad (GBK / GB18030): a rule project's files are read
with a warning, and `--encoding gb18030` loads a data file, row for row as its UTF-8 twin."""

from __future__ import annotations

import codecs
import datetime as dt
import json
import shutil
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from guanxi.cli.main import cli
from guanxi.engine.classify import classify
from guanxi.engine.classify.snapshot import classify_snapshot
from guanxi.engine.demo_data import write_demo_data
from guanxi.engine.diagnostics import Diagnostic
from guanxi.engine.errors import DataError
from guanxi.engine.ingest import load_customers, load_events
from guanxi.engine.project.choice import store_setting
from guanxi.engine.releases.files import differences, materialise, read_files, same_files
from guanxi.engine.ruleset import load_ruleset, validate_project
from guanxi.engine.ruleset.fix import fix_project
from guanxi.engine.ruleset.load import Validation
from guanxi.engine.ruleset.ruleset import RuleSet
from guanxi.engine.store import Store
from guanxi.engine.store.sqlite import SQLiteStore
from tests.test_branches import BRANCH, OVERLAY

RULES = Path(__file__).parent.parent / "rules"
NOW = dt.datetime(2026, 11, 21, 2, 0, tzinfo=dt.UTC)
TODAY = dt.date(2026, 11, 20)
CUSTOMERS = "customer_id,name,kind,balance,age"
NAMES = ["C1,张三,personal,100,30", "C2,𠮷野家,personal,abc,41", "C3,欧阳娜娜,corporate,5,",
         "C4,𠀀𪚥,personal,7,70", "C5,李四,personal,12,五十"]  # fmt: skip


def copy_rules(folder: Path) -> Path:
    shutil.copytree(RULES, folder, ignore=shutil.ignore_patterns("*.db*", "__pycache__"))
    return folder


def resave(path: Path, encoding: str, text: str | None = None) -> None:
    """The file saved again in `encoding` (as Excel's 'CSV (逗号分隔)' saves GBK)."""
    path.write_bytes((text or path.read_text("utf-8")).encode(encoding))


def invoke(*args: str, lang: str = "en") -> Result:
    return CliRunner(env={"COLUMNS": "200", "GUANXI_LANG": lang}).invoke(cli, list(args))


def without_warning(validation: Validation) -> list[Diagnostic]:
    return [d for d in validation.diagnostics if d.code != "gbk-file"]


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("demo")
    write_demo_data(folder, 400, 1, TODAY, bad_rows=False)
    return folder / "customers.csv"


def assignments(rules: Path, customers: Path, folder: Path) -> list[tuple[Any, ...]]:
    """Every customer's tier, level and strategy under `rules`, in a store of its own."""
    ruleset = validate_project(rules).ruleset
    assert ruleset is not None
    folder.mkdir()
    store = SQLiteStore(folder / "guanxi.db")
    try:
        loaded = invoke("load", "customers", str(customers), "--rules", str(rules), "--store",
                        store.location)  # fmt: skip
        assert loaded.exit_code == 0, loaded.output
        classify(store, ruleset, NOW)
        rows = store.execute(
            "SELECT customer_id, tier, level, strategy FROM current_assignments ORDER BY 1"
        )
    finally:
        store.close()
    return [tuple(r.values()) for r in rows]


# --- rule project files --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "encoding"),
    [("strategies.csv", "gbk"), ("levels.yaml", "gbk"), ("schema.yaml", "gb18030")],
)
def test_a_gbk_file_validates_with_a_warning_and_classifies_like_the_utf8_one(
    tmp_path: Path, demo: Path, name: str, encoding: str
) -> None:
    utf8 = validate_project(RULES)
    gbk_rules = copy_rules(tmp_path / "gbk")
    resave(gbk_rules / name, encoding)
    gbk = validate_project(gbk_rules)
    assert gbk.ok and gbk.ruleset is not None and utf8.ruleset is not None
    [warning] = [d for d in gbk.diagnostics if d.code == "gbk-file"]
    assert (warning.file, warning.line, warning.col) == (f"{gbk_rules}/{name}", 1, 1)
    assert warning.severity == "warning"
    assert len(without_warning(gbk)) == len(utf8.diagnostics)
    assert gbk.ruleset.hash == utf8.ruleset.hash  # the same rules: the same follow-up keys
    expected = assignments(RULES, demo, tmp_path / "u")
    assert len({row[3] for row in expected}) >= 3  # several strategies: the table matters
    assert assignments(gbk_rules, demo, tmp_path / "g") == expected


def test_the_warning_says_what_saved_the_file_and_how_to_remove_it(tmp_path: Path) -> None:
    rules = copy_rules(tmp_path / "rules")
    resave(rules / "strategies.csv", "gbk")
    resave(rules / "levels.yaml", "gbk")
    result = invoke("validate", str(rules))
    assert result.exit_code == 0, result.output
    assert (
        f"{rules}/strategies.csv:1:1: warning[gbk-file]: saved as GBK/GB18030 (Excel's"
        " 'CSV (逗号分隔)'); read as GB18030\n"
        "  1 | name,label,label_en,gold,kind,tier,"
    ) in result.stderr
    hint = "  hint: save it as 'CSV UTF-8', or run 'guanxi validate --fix', to remove this warning"
    assert hint + "\n" in result.stderr
    assert (
        f"{rules}/levels.yaml:1:1: warning[gbk-file]: saved as GBK/GB18030 (Notepad's 'ANSI');"
        " read as GB18030\n  1 | # 关系水平 — Kotler's"
    ) in result.stderr
    chinese = invoke("validate", str(rules), lang="zh")
    assert (
        f"{rules}/strategies.csv:1:1: 警告[gbk-file]: 以 GBK/GB18030 编码保存（Excel 的"
        "「CSV (逗号分隔)」）；已按 GB18030 读取\n"
    ) in chinese.stderr
    hint = "  提示: 另存为「CSV UTF-8」，或运行 'guanxi validate --fix'，即可消除此警告\n"
    assert hint in chinese.stderr


WHEN = "    when: tier IN ('high_value_added', 'valuable') AND value_ratio >= 5"
MISSPELT = "    when: tier IN ('高附加值客户', 'valuable') AND value_ratoi >= 5"


def misspelt_line() -> int:
    """The line of levels.yaml that MISSPELT replaces."""
    return (RULES / "levels.yaml").read_text("utf-8").splitlines().index(WHEN) + 1


def test_a_diagnostic_in_a_gbk_file_points_at_the_same_character_as_in_utf8(
    tmp_path: Path,
) -> None:
    """An error after Chinese text on its line: the column counts characters, not bytes."""
    found = {}
    for encoding in ("utf-8", "gbk"):
        rules = copy_rules(tmp_path / encoding)
        table = (rules / "strategies.csv").read_text("utf-8")
        resave(rules / "strategies.csv", encoding, table.replace("not dormant", "not dormnat", 1))
        levels = (rules / "levels.yaml").read_text("utf-8").replace(WHEN, MISSPELT)
        resave(rules / "levels.yaml", encoding, levels)
        found[encoding] = [
            (Path(d.file).name, d.line, d.col, d.code, d.message)
            for d in without_warning(validate_project(rules))
        ]
    assert found["gbk"] == found["utf-8"]
    assert ("strategies.csv", 3, 59, "unknown-value") in [f[:4] for f in found["gbk"]]
    col = MISSPELT.index("value_ratoi") + 1
    assert ("levels.yaml", misspelt_line(), col, "unknown-field") in [f[:4] for f in found["gbk"]]


@pytest.mark.parametrize(
    ("name", "content", "at", "message"),
    [
        ("strategies.csv", "general,普通客户,Caf".encode() + b"\xe9\n", (1, 17),
         "byte 0xe9 is not UTF-8 text"),
        ("levels.yaml", b"# Stra\xdfe \xff\nhit_policy: first\n", (1, 9),
         "byte 0xff is not GBK/GB18030 text, and the file is not UTF-8 either"),
    ],
)  # fmt: skip
def test_a_file_that_is_neither_utf8_nor_gb18030_stays_an_error(
    tmp_path: Path, name: str, content: bytes, at: tuple[int, int], message: str
) -> None:
    """Where UTF-8 reads further (UTF-8 Chinese, then Latin-1) the place is UTF-8's; where
    GB18030 does, GB18030's. Columns count characters."""
    rules = copy_rules(tmp_path / "rules")
    (rules / name).write_bytes(content)
    validation = validate_project(rules)
    assert not validation.ok
    problems = [(d.file, d.line, d.col, d.message) for d in validation.diagnostics
                if d.code in ("not-utf8", "gbk-file")]  # fmt: skip
    assert problems == [(f"{rules}/{name}", *at, message)]


def test_a_byte_order_mark_is_no_character(tmp_path: Path) -> None:
    """Excel's UTF-8 byte-order mark, or GB18030's, does not shift the column of line 1."""
    rules = copy_rules(tmp_path / "rules")
    levels = (rules / "levels.yaml").read_text("utf-8")
    (rules / "levels.yaml").write_bytes(codecs.BOM_UTF8 + b"\xff" + levels.encode())
    [bad] = [d for d in validate_project(rules).diagnostics if d.code == "not-utf8"]
    assert (bad.line, bad.col) == (1, 1)
    (rules / "levels.yaml").write_bytes(("\ufeff" + levels).encode("gb18030"))
    validation = validate_project(rules)
    assert validation.ok
    assert validation.lines[f"{rules}/levels.yaml"][0] == levels.splitlines()[0]


def notepad(folder: Path) -> None:
    """Every text file of the project saved again as Windows Notepad saves: CR LF, a BOM."""
    for path in [*folder.glob("*.yaml"), *folder.glob("*.csv")]:
        text = path.read_text("utf-8").replace("\n", "\r\n")
        path.write_bytes(codecs.BOM_UTF8 + text.encode("utf-8"))


def test_crlf_line_endings_and_a_bom_change_no_rule_set_hash(tmp_path: Path) -> None:
    """An approved release, and the follow-ups' idempotency keys, survive an editor that
    writes CR LF and a byte-order mark."""
    windows = copy_rules(tmp_path / "windows")
    notepad(windows)
    assert (windows / "tiers.yaml").read_bytes().count(b"\r\n") > 10
    assert load_ruleset(windows).hash == load_ruleset(RULES).hash
    assert same_files(read_files(windows), read_files(RULES))


def test_a_diagnostic_in_a_crlf_file_is_at_its_line_and_column(tmp_path: Path) -> None:
    found = {}
    for form in ("lf", "crlf"):
        rules = copy_rules(tmp_path / form)
        table = (rules / "strategies.csv").read_text("utf-8")
        (rules / "strategies.csv").write_text(table.replace("not dormant", "not dormnat", 1))
        levels = (rules / "levels.yaml").read_text("utf-8").replace(WHEN, MISSPELT)
        (rules / "levels.yaml").write_text(levels, "utf-8")
        (rules / "guanxi.yaml").write_text("timezone: Asia/Shanghai\nstore: [guanxi.db\n")
        if form == "crlf":
            notepad(rules)
        validation = validate_project(rules)
        found[form] = [(Path(d.file).name, d.line, d.col, d.code) for d in validation.diagnostics]
        assert not any("\r" in line for lines in validation.lines.values() for line in lines)
    assert found["crlf"] == found["lf"]
    assert ("strategies.csv", 3, 59, "unknown-value") in found["crlf"]
    col = MISSPELT.index("value_ratoi") + 1
    assert ("levels.yaml", misspelt_line(), col, "unknown-field") in found["crlf"]
    assert ("guanxi.yaml", 2, 8, "yaml-syntax") in found["crlf"]


def test_json_lines_in_a_rule_project_must_be_utf8(tmp_path: Path) -> None:
    rules = copy_rules(tmp_path / "rules")
    (rules / "tests" / "people.jsonl").write_bytes('{"customer_id": "张三"}\n'.encode("gbk"))
    scenarios = rules / "tests" / "contact_policy.yaml"
    text = scenarios.read_text("utf-8")
    scenarios.write_text(text.replace("population.csv", "people.jsonl"), "utf-8")
    [bad] = [d for d in validate_project(rules).diagnostics if d.code == "not-utf8"]
    assert (Path(bad.file).name, bad.line, bad.col) == ("people.jsonl", 1, 18)
    assert bad.message == "byte 0xd5 is not UTF-8 text"


def test_scenario_tests_run_on_a_gb18030_population(tmp_path: Path) -> None:
    rules = copy_rules(tmp_path / "rules")
    resave(rules / "tests" / "population.csv", "gb18030")
    bad = rules / "tests" / "population.csv"
    result = invoke("test", "--rules", str(rules))
    assert result.exit_code == 0, result.output
    assert "passed" in result.stdout and "FAIL" not in result.stdout
    assert f"{rules}/tests/population.csv:1:1: warning[gbk-file]" in result.stderr
    lines = bad.read_bytes().split(b"\n")
    lines[3] = lines[3].replace(b",50,", ",五十,".encode("gbk"), 1)
    bad.write_bytes(b"\n".join(lines))
    problems = validate_project(rules).diagnostics
    assert ("population.csv", 4, "invalid-value") in [
        (Path(d.file).name, d.line, d.code) for d in problems
    ]


def test_a_gbk_branch_overlay_changes_the_rules_as_its_utf8_twin(tmp_path: Path) -> None:
    found = []
    for encoding in ("utf-8", "gbk"):
        rules = copy_rules(tmp_path / encoding)
        (rules / "branches").mkdir()
        (rules / "branches" / f"{BRANCH}.yaml").write_bytes(OVERLAY.encode(encoding))
        shown = invoke("rules", str(rules), "--branch", BRANCH, "--json")
        assert shown.exit_code == 0, shown.output
        summary = json.loads(shown.stdout.replace(str(rules), "<rules>"))
        found.append((summary, load_ruleset(rules).hash))
        warned = f"{rules}/branches/{BRANCH}.yaml:1:1: warning[gbk-file]" in shown.stderr
        assert warned == (encoding == "gbk")
    assert found[0] == found[1]
    assert [s["step"] for s in found[1][0]["steps"]] == [f"responsible_post_sale_call@{BRANCH}"]


def test_fix_saves_a_gb18030_file_as_utf8_and_repairs_it(tmp_path: Path) -> None:
    rules = copy_rules(tmp_path / "rules")
    levels = (rules / "levels.yaml").read_text("utf-8")
    broken = levels.replace("hit_policy: first", "hit_policy：first")
    resave(rules / "levels.yaml", "gb18030", broken)
    assert not validate_project(rules).ok
    fix_project(rules)
    assert (rules / "levels.yaml").read_bytes() == levels.encode("utf-8")
    assert validate_project(rules).diagnostics == []  # no gbk-file warning left either


def test_fix_saves_gbk_files_as_utf8_and_says_so_in_chinese(tmp_path: Path) -> None:
    """Notepad's 'ANSI' and Excel's 'CSV (逗号分隔)': the same text in UTF-8, a table with
    the byte-order mark Excel needs to open it as UTF-8; a UTF-8 file stays as it is."""
    rules = copy_rules(tmp_path / "rules")
    resave(rules / "strategies.csv", "gbk")
    resave(rules / "levels.yaml", "gbk")
    tiers = (rules / "tiers.yaml").read_bytes()
    result = invoke("validate", str(rules), "--fix", lang="zh")
    assert result.exit_code == 0, result.output
    assert result.stdout.strip().splitlines() == [
        f"{rules}/{name}：已另存为 UTF-8（原来是 GBK/GB18030，即记事本的「ANSI」或 Excel 的"
        "「CSV (逗号分隔)」）"
        for name in ("levels.yaml", "strategies.csv")
    ]
    assert "gbk-file" not in result.stderr
    utf8 = [(RULES / name).read_bytes() for name in ("levels.yaml", "strategies.csv")]
    assert (rules / "levels.yaml").read_bytes() == utf8[0]
    assert (rules / "strategies.csv").read_bytes() == codecs.BOM_UTF8 + utf8[1]
    assert (rules / "tiers.yaml").read_bytes() == tiers


def test_the_store_setting_of_a_gbk_guanxi_yaml_is_read(tmp_path: Path) -> None:
    rules = copy_rules(tmp_path / "rules")
    settings = (rules / "guanxi.yaml").read_text("utf-8")
    resave(rules / "guanxi.yaml", "gbk", settings.replace("store: guanxi.db", "store: 分行.db"))
    assert store_setting(rules) == "分行.db"


def test_saving_the_file_as_utf8_removes_the_warning_kept_on_disk(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GUANXI_CACHE_DIR", str(tmp_path / "cache"))
    rules = copy_rules(tmp_path / "rules")
    resave(rules / "strategies.csv", "gbk")
    assert [d.code for d in validate_project(rules).diagnostics] == ["gbk-file"]
    assert [d.code for d in validate_project(rules).diagnostics] == ["gbk-file"]  # kept
    resave(rules / "strategies.csv", "utf-8", (rules / "strategies.csv").read_text("gbk"))
    assert validate_project(rules).diagnostics == []


def test_a_release_keeps_a_gbk_table_byte_for_byte_and_shows_its_text(tmp_path: Path) -> None:
    before = read_files(RULES)
    rules = copy_rules(tmp_path / "rules")
    table = (rules / "strategies.csv").read_text("utf-8")
    resave(rules / "strategies.csv", "gbk", table.replace("低成本自助产品", "低成本自助渠道"))
    after = read_files(rules)
    assert after["strategies.csv"] == (rules / "strategies.csv").read_bytes()
    assert differences(before, after) == [
        "strategies.csv: now saved as GB18030 (was UTF-8)",
        "--- a/strategies.csv",
        "+++ b/strategies.csv",
        "@@ -3,5 +3,5 @@",
        *(" " + line for line in table.splitlines()[2:5]),
        "-" + table.splitlines()[5],
        "+" + table.splitlines()[5].replace("低成本自助产品", "低成本自助渠道"),
        " " + table.splitlines()[6],
    ]
    applied = materialise(after, tmp_path / "cache", "release")
    assert (applied / "strategies.csv").read_bytes() == (rules / "strategies.csv").read_bytes()
    validation = validate_project(applied)
    assert validation.ok and [d.code for d in validation.diagnostics] == ["gbk-file"]


def test_a_gbk_release_is_proposed_approved_and_shown_as_text(tmp_path: Path, store: Store) -> None:
    rules = copy_rules(tmp_path / "rules")
    for scenarios in (rules / "tests").glob("*.yaml"):
        if scenarios.name != "falls_and_rises.yaml":
            scenarios.unlink()
    where = ["--store", store.location, "--now", "2026-12-01T10:00:00+08:00"]
    assert invoke("release", "propose", str(rules), "--days", "1", *where).exit_code == 0
    runner = CliRunner(env={"COLUMNS": "200", "GUANXI_ACTOR": "wang"})
    approve = ["release", "approve", "1", "--rules", str(rules), *where]
    assert runner.invoke(cli, approve).exit_code == 0
    table = (rules / "strategies.csv").read_text("utf-8")
    resave(rules / "strategies.csv", "gbk", table.replace("提高服务门槛", "提高服务门槛，减少网点"))
    proposed = invoke("release", "propose", str(rules), "--days", "1", *where)
    assert proposed.exit_code == 0, proposed.output
    assert "warning[gbk-file]" in proposed.stderr
    shown = invoke("release", "show", "2", "--rules", str(rules), *where[:2])
    assert "  strategies.csv: now saved as GB18030 (was UTF-8)\n" in shown.stdout
    assert "  +unprofitable,不盈利客户:不主动营销," in shown.stdout
    assert "提高服务门槛，减少网点\n" in shown.stdout


# --- data files ----------------------------------------------------------------------------


def write(folder: Path, name: str, lines: list[str], encoding: str) -> Path:
    path = folder / name
    path.write_bytes("\n".join(lines).encode(encoding) + b"\n")
    return path


def stored(store: Path) -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]]:
    opened = SQLiteStore(store)
    try:
        opened.prepare(load_ruleset(RULES).schema)  # where nothing was loaded, an empty one
        rows = opened.execute("SELECT customer_id, name, balance FROM customers ORDER BY 1")
        quarantined = opened.execute("SELECT row_number, field, value FROM quarantine ORDER BY 1")
    finally:
        opened.close()
    return [tuple(r.values()) for r in rows], [tuple(r.values()) for r in quarantined]


def load(file: Path, store: Path, *options: str, lang: str = "en") -> Result:
    return invoke("load", "customers", str(file), "--rules", str(RULES), "--store", str(store),
                  *options, lang=lang)  # fmt: skip


@pytest.mark.parametrize("option", ["gb18030", "gbk", "GB18030"])
def test_a_gb18030_customers_file_loads_the_rows_of_its_utf8_twin(
    tmp_path: Path, option: str
) -> None:
    utf8 = write(tmp_path, "u.csv", [CUSTOMERS, *NAMES], "utf-8")
    gb = write(tmp_path, "g.csv", [CUSTOMERS, *NAMES], "gb18030")
    assert "𠮷".encode("gb18030") == b"\x95\x34\xb2\x35"  # a four-byte sequence
    assert load(utf8, tmp_path / "u.db").exit_code == 3  # lines 3 and 6 quarantined
    result = load(gb, tmp_path / "g.db", "--encoding", option)
    assert result.exit_code == 3, result.output
    loaded, quarantined = stored(tmp_path / "g.db")
    assert (loaded, quarantined) == stored(tmp_path / "u.db")
    assert [row[1] for row in loaded] == ["张三", "欧阳娜娜", "𠀀𪚥"]
    assert [row[:2] for row in quarantined] == [(3, "balance"), (6, "age")]


@pytest.mark.parametrize("encoding", ["gbk", "GBK", "GB18030", "cp936"])
def test_a_load_called_from_python_reads_gbk_as_the_command_does(
    tmp_path: Path, ruleset: RuleSet, encoding: str
) -> None:
    """`load_customers(..., encoding="gbk")` stopped with a KeyError: only the command made
    gbk GB18030. The DuckDB night reads the file too; an encoding of no data file is refused."""
    gb = write(tmp_path, "g.csv", [CUSTOMERS, *NAMES], "gb18030")
    utf8 = write(tmp_path, "u.csv", [CUSTOMERS, *NAMES], "utf-8")
    assert load(utf8, tmp_path / "u.db").exit_code == 3
    store, night = SQLiteStore(tmp_path / "g.db"), SQLiteStore(tmp_path / "night.db")
    report = load_customers(store, ruleset, gb, NOW, encoding=encoding)
    classify_snapshot(night, ruleset, NOW, gb, encoding=encoding)
    with pytest.raises(ValueError, match="'latin-1': give one of utf-8, gb18030, gbk"):
        load_customers(store, ruleset, gb, NOW, encoding="latin-1")
    store.close()
    night.close()
    assert (report.loaded, report.quarantined) == (3, 2)
    assert stored(tmp_path / "g.db") == stored(tmp_path / "u.db")
    assert stored(tmp_path / "night.db")[1] == stored(tmp_path / "u.db")[1]


def test_without_encoding_a_gbk_file_is_refused_with_the_fix(tmp_path: Path) -> None:
    gb = write(tmp_path, "g.csv", [CUSTOMERS, *NAMES[:1], *NAMES[2:3], *NAMES[4:]], "gbk")
    result = load(gb, tmp_path / "g.db")
    assert result.exit_code == 1
    assert result.stderr.endswith(
        f"Error: {gb}:2: not UTF-8 text; it looks like GBK/GB18030 (Excel's 'CSV (逗号分隔)'):"
        " add --encoding gb18030, or save it as 'CSV UTF-8'\n"
    )
    assert stored(tmp_path / "g.db") == ([], [])
    chinese = load(gb, tmp_path / "g.db", lang="zh")
    assert chinese.stderr.endswith(
        f"错误：{gb}:2：不是 UTF-8 文本；看起来是 GBK/GB18030（Excel 的「CSV (逗号分隔)」）："
        "请加上 --encoding gb18030，或把文件存为「CSV UTF-8」\n"
    )


def test_a_bad_byte_in_a_gb18030_file_is_reported_at_its_line(tmp_path: Path) -> None:
    lines = [CUSTOMERS, *NAMES]
    gb = tmp_path / "g.csv"
    gb.write_bytes(b"\n".join([*(line.encode("gb18030") for line in lines[:4]), b"C9,\x80\xff,x",
                               lines[4].encode("gb18030")]))  # fmt: skip
    result = load(gb, tmp_path / "g.db", "--encoding", "gb18030")
    assert result.exit_code == 1
    assert result.stderr.endswith(
        f"Error: {gb}:5: not GBK/GB18030 text; save the file as 'CSV UTF-8' and leave out"
        " --encoding\n"
    )
    assert stored(tmp_path / "g.db") == ([], [])


def test_a_utf8_file_is_not_read_as_gb18030(tmp_path: Path) -> None:
    """UTF-8's Chinese often decodes as GBK too, as other characters: refused, not loaded."""
    utf8 = write(tmp_path, "u.csv", [CUSTOMERS, "C1,张三李四,personal,1,2"], "utf-8")
    assert "张三李四".encode().decode("gb18030") == "寮犱笁鏉庡洓"  # it would decode
    result = load(utf8, tmp_path / "u.db", "--encoding", "gb18030")
    assert result.exit_code == 1
    assert result.stderr.endswith(
        f"Error: {utf8}: the file is UTF-8 text, not GB18030: leave out --encoding\n"
    )
    ascii_only = write(tmp_path, "a.csv", [CUSTOMERS, "C1,Li,personal,1,2"], "utf-8")
    assert load(ascii_only, tmp_path / "a.db", "--encoding", "gb18030").exit_code == 0


def test_json_lines_with_an_encoding_is_a_usage_error(tmp_path: Path, ruleset: RuleSet) -> None:
    events = tmp_path / "e.jsonl"
    events.write_text('{"id": "E1"}\n', "utf-8")
    result = invoke("load", "events", str(events), "--encoding", "gbk", "--store",
                    str(tmp_path / "x.db"))  # fmt: skip
    assert result.exit_code == 2
    assert result.stderr.endswith(
        f"Error: --encoding gbk is for CSV files: {events} is not one (JSON Lines are UTF-8"
        " by the JSON standard; Parquet and Excel files say their own encoding)\n"
    )
    assert not (tmp_path / "x.db").exists()
    store = SQLiteStore(tmp_path / "y.db")
    try:
        with pytest.raises(DataError, match="only a CSV file can be read as GB18030"):
            load_events(store, ruleset, events, NOW, encoding="gb18030")
    finally:
        store.close()


def test_events_in_gb18030_load_like_utf8(tmp_path: Path) -> None:
    header = "id,type,customer_id,at,product,amount,channel"
    rows = ["E1,sale,C1,2026-11-20T10:00:00+08:00,𠮷祥基金,100,", "E2,sale,C1,bad,基金,1,"]
    found = []
    for encoding, options in (("utf-8", ()), ("gb18030", ("--encoding", "gb18030"))):
        path = write(tmp_path, f"{encoding}.csv", [header, *rows], encoding)
        store = tmp_path / f"{encoding}.db"
        result = invoke("load", "events", str(path), "--rules", str(RULES), "--store",
                        str(store), *options)  # fmt: skip
        assert result.exit_code == 3, result.output
        opened = SQLiteStore(store)
        found.append(
            (opened.execute("SELECT id, payload FROM events"),
             opened.execute("SELECT row_number, field FROM quarantine"))
        )  # fmt: skip
        opened.close()
    assert found[0] == found[1]
    assert "𠮷祥基金" in found[1][0][0]["payload"]


def test_a_gb18030_snapshot_classifies_like_its_utf8_twin(tmp_path: Path, demo: Path) -> None:
    gb = tmp_path / "snapshot.csv"
    resave(gb, "gb18030", demo.read_text("utf-8"))
    found = []
    for snapshot, options in ((demo, ()), (gb, ("--encoding", "gbk"))):
        store = tmp_path / f"{snapshot.stem}.db"
        result = invoke("classify", "--engine", "duckdb", "--input", str(snapshot), "--rules",
                        str(RULES), "--store", str(store), "--now", "2026-11-21T02:00:00",
                        *options)  # fmt: skip
        assert result.exit_code == 0, result.output
        opened = SQLiteStore(store)
        found.append(opened.execute(
            "SELECT customer_id, tier, level, strategy FROM current_assignments ORDER BY 1"
        ))  # fmt: skip
        opened.close()
    assert found[0] == found[1] and len(found[0]) == 400
    refused = invoke("classify", "--engine", "duckdb", "--input", str(gb), "--rules", str(RULES),
                     "--store", str(tmp_path / "x.db"))  # fmt: skip
    assert "add --encoding gb18030, or save it as 'CSV UTF-8'" in refused.stderr
