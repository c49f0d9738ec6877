"""Chinese and English: the catalog is complete and compiled, the language is chosen by
--lang, GUANXI_LANG or the locale, and the CLI, diagnostics and policy reasons follow it."""

from __future__ import annotations

import importlib.util
import io
import subprocess
import sys
import tomllib
from pathlib import Path
from types import ModuleType

import pytest
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from click.testing import CliRunner
from test_policy import at, customer, followup, plan, rows
from test_validate_golden import make_project

from guanxi.cli.main import cli
from guanxi.engine.diagnostics import CODES, Diagnostic, describe
from guanxi.engine.i18n import (
    _,
    current_language,
    detect_language,
    language,
    parse_language,
)
from guanxi.engine.i18n.catalog import LOCALE_DIR
from guanxi.engine.i18n.terms import STATUS_WORDS, status_word
from guanxi.engine.ruleset import RuleSet
from guanxi.engine.store import Store

ROOT = Path(__file__).parent.parent
PO = LOCALE_DIR / "zh_CN" / "LC_MESSAGES" / "guanxi.po"
NO_LOCALE = {"GUANXI_LANG": None, "LC_ALL": None, "LC_MESSAGES": None, "LANG": None}


def i18n_script() -> ModuleType:
    spec = importlib.util.spec_from_file_location("i18n_script", ROOT / "scripts" / "i18n.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def guanxi(*args: str, **env: str | None) -> tuple[int, str, str]:
    result = CliRunner().invoke(cli, list(args), env={**NO_LOCALE, **env}, prog_name="guanxi")
    return result.exit_code, result.stdout, result.stderr


# The catalog


def test_every_message_has_a_chinese_translation() -> None:
    """Every msgid extracted from the code, the report page, click and the command tree has
    a translation that is not empty, not fuzzy, with the msgid's placeholders."""
    script = i18n_script()
    template = script.extract()
    assert len(template) > 250
    assert script.problems(script.update(template), template) == []


def test_the_catalog_holds_click_words_help_texts_and_codes() -> None:
    with PO.open("rb") as file:
        catalog = read_po(file)
    for msgid in ("Usage:", "Show this message and exit.", "No such option {name!r}."):
        assert catalog.get(msgid) is not None
    assert catalog.get("Print the diagnostics as JSON.") is not None  # an option's help
    assert all(catalog.get(text) is not None for text in CODES.values())


def test_the_compiled_catalog_is_up_to_date_with_the_po_file() -> None:
    with PO.open("rb") as file:
        catalog = read_po(file, locale="zh_CN", domain="guanxi")
    compiled = io.BytesIO()
    write_mo(compiled, catalog)
    assert PO.with_suffix(".mo").read_bytes() == compiled.getvalue(), "run: python scripts/i18n.py"


def test_an_installed_guanxi_carries_the_catalog() -> None:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    assert "guanxi.engine.i18n" in config["tool"]["setuptools"]["packages"]
    patterns = config["tool"]["setuptools"]["package-data"]["guanxi.engine.i18n"]
    shipped = [p.relative_to(LOCALE_DIR.parent) for p in LOCALE_DIR.rglob("*.mo")]
    assert shipped and all(any(p.match(pattern) for pattern in patterns) for p in shipped)


def test_guanxi_starts_without_importing_babel() -> None:
    code = "import sys, guanxi.cli.main; print('babel' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


# Choosing the language


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("zh", "zh"),
        ("zh_CN.UTF-8", "zh"),
        ("zh-Hans", "zh"),
        ("zh_TW.Big5", "zh"),
        ("ZH", "zh"),
        ("en", "en"),
        ("en_US.UTF-8", "en"),
        ("C", "en"),
        ("C.UTF-8", "en"),
        ("POSIX", "en"),
        ("fr_FR.UTF-8", None),
        ("", None),
        (None, None),
    ],
)
def test_a_language_is_read_from_a_locale_name(value: str | None, expected: str | None) -> None:
    assert parse_language(value) == expected


@pytest.mark.parametrize(
    ("explicit", "environ", "expected"),
    [
        (None, {}, "en"),
        (None, {"LANG": "zh_CN.UTF-8"}, "zh"),
        (None, {"LANG": "zh_CN.UTF-8", "LC_MESSAGES": "en_US.UTF-8"}, "en"),
        (None, {"LC_MESSAGES": "en_US.UTF-8", "LC_ALL": "zh_CN.UTF-8"}, "zh"),
        (None, {"LC_ALL": "C", "GUANXI_LANG": "zh"}, "zh"),
        ("en", {"GUANXI_LANG": "zh", "LANG": "zh_CN.UTF-8"}, "en"),
        ("zh", {"GUANXI_LANG": "en"}, "zh"),
        (None, {"GUANXI_LANG": "fr", "LANG": "zh_CN.UTF-8"}, "zh"),
    ],
)
def test_explicit_beats_guanxi_lang_beats_lc_all_lc_messages_and_lang(
    explicit: str | None, environ: dict[str, str], expected: str
) -> None:
    assert detect_language(explicit, environ) == expected


def test_lang_zh_in_the_locale_gives_chinese_help() -> None:
    code, out, err = guanxi("-h", LANG="zh_CN.UTF-8")
    assert code == 0, err
    assert out.startswith("用法:")
    assert "选项" in out and "命令" in out
    assert "显示本帮助并退出。" in out  # click's own words
    assert "提示信息的语言" in out  # --lang's help
    assert "检查规则项目并报告每个问题所在的文件、行和列" in out  # a command's short help
    assert "退出码：" in out  # the epilog


def test_the_chinese_help_of_rules_names_the_project_the_store_remembers() -> None:
    """As the English: the store's last project comes before this folder and ./rules."""
    code, out, err = guanxi("run", "-h", LANG="zh_CN.UTF-8")
    assert code == 0, err
    said = (
        "默认：数据库最近一次分类所用的规则项目；没有时用当前文件夹（若有guanxi.yaml），其次./rules"
    )
    assert said in "".join(out.split())


@pytest.mark.parametrize(
    ("args", "env"),
    [
        (["--lang", "zh"], {}),
        (["--lang=zh"], {"LANG": "en_US.UTF-8"}),
        ([], {"GUANXI_LANG": "zh"}),
        ([], {"LC_ALL": "zh_CN.UTF-8", "LANG": "en_US.UTF-8"}),
    ],
)
def test_lang_and_guanxi_lang_choose_chinese(args: list[str], env: dict[str, str]) -> None:
    code, out, _err = guanxi(*args, "validate", "--help", **env)
    assert code == 0
    joined = "".join(line.strip() for line in out.splitlines())  # wrapped to the terminal
    assert "检查规则项目（FOLDER，即 --rules FOLDER 的简写），报告每个问题所在的文件、行和列" in (
        joined
    )
    assert "以 JSON 输出诊断信息。" in out  # an option's help


def test_lang_en_beats_a_chinese_locale() -> None:
    code, out, _err = guanxi("--lang", "en", "validate", "--help", LANG="zh_CN.UTF-8")
    assert code == 0
    assert "Usage:" in out and "Print the diagnostics as JSON." in out


def test_usage_errors_are_in_the_chosen_language() -> None:
    code, _out, err = guanxi("--lang", "zh", "validate", "--bogus")
    assert code == 2
    assert "错误：没有选项 '--bogus'。" in err
    assert "运行 'guanxi validate --help' 查看帮助。" in err


def test_a_wrong_lang_is_a_usage_error() -> None:
    code, _out, err = guanxi("--lang", "fr", "rules")
    assert code == 2
    assert "'fr' is not one of 'en', 'zh'" in err


def test_an_invocation_leaves_the_language_and_help_texts_as_they_were() -> None:
    assert current_language() == "en"
    guanxi("--lang", "zh", "validate", "--help")
    assert current_language() == "en"
    validate = cli.commands["validate"]
    assert validate.help is not None and validate.help.startswith("Check a rule project")
    json_option = next(p for p in validate.params if p.name == "as_json")
    assert getattr(json_option, "help", None) == "Print the diagnostics as JSON."


# What is translated


def test_a_bad_project_is_reported_with_chinese_framing_words(tmp_path: Path) -> None:
    project = make_project(tmp_path, "bad_references")
    code, _out, err = guanxi("--lang", "zh", "validate", str(project))
    assert code == 1
    assert "playbooks.yaml:2:3: 错误[unknown-level]: " in err
    assert "  提示: 您是不是想写 'responsible'？" in err
    assert "  应为: rm_task（客户经理任务）\n" in err  # a task step's channels: of tasks
    assert err.rstrip().endswith("个错误；没有做任何更改")


def test_json_keeps_english_codes_and_keys(tmp_path: Path) -> None:
    project = make_project(tmp_path, "bad_references")
    code, out, _err = guanxi("--lang", "zh", "validate", "--json", str(project))
    assert code == 1
    assert '"code": "unknown-level"' in out and '"severity": "error"' in out
    assert "您是不是想写 'responsible'？" in out  # the human text is localized


def test_diagnostic_words_and_descriptions_follow_the_language() -> None:
    found = Diagnostic("a.yaml", 1, 1, "unknown-key", "x", hint="h", severity="warning")
    with language("zh"):
        assert found.headline() == "a.yaml:1:1: 警告[unknown-key]: x"
        assert found.render(None).endswith("  提示: h")
        assert describe("yaml-tab") == "缩进用了制表符（Tab）；YAML 只允许用空格缩进。"
    assert found.headline() == "a.yaml:1:1: warning[unknown-key]: x"
    assert describe("yaml-tab") == CODES["yaml-tab"]


def test_every_status_has_a_chinese_word() -> None:
    with language("zh"):
        words = {status: status_word(status) for status in STATUS_WORDS}
    assert words["dead"] == "已放弃" and words["pending"] == "待发送"
    assert all(word != status for status, word in words.items())
    assert status_word("dead") == "dead"
    assert status_word("unheard-of") == "unheard-of"


def test_policy_reasons_are_in_the_language_of_the_planner(store: Store, ruleset: RuleSet) -> None:
    store.upsert_customers([customer("C1", consent_sms=False), customer("C2", do_not_contact=True)])
    with language("zh"):
        plan(store, ruleset, [followup("C1", at("2026-12-07")), followup("C2", at("2026-12-07"))])
    found = rows(store)
    assert found["news:C1:1"]["reason"] == "客户未同意通过短信联系（consent_sms）"
    assert found["news:C2:1"]["reason"] == "客户要求不要联系（do_not_contact）"
    assert found["news:C1:1"]["policy"] == "channel_consent"  # codes stay English


def test_untranslated_text_comes_back_as_it_is() -> None:
    with language("zh"):
        assert _("not a msgid of ours") == "not a msgid of ours"
        assert _("") == ""


def test_docs_diagnostics_describe_every_code_in_both_languages() -> None:
    doc = (ROOT / "docs" / "diagnostics.md").read_text(encoding="utf-8")
    assert i18n_script().diagnostics_doc(doc) == doc, "run: python scripts/i18n.py"
    with language("zh"):
        rows = {code: f"| `{code}` | " for code in CODES}
        assert all(
            any(
                r.startswith(rows[c]) and r.endswith(f" | {describe(c)} |")
                for r in doc.splitlines()
            )
            for c in CODES
        )
