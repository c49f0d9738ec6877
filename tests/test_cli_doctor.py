"""`guanxi doctor`: one line per check, ok/warn/fail, exit 1 on a fail, --json. The servers
are sockets on 127.0.0.1: one listening, one port closed."""

from __future__ import annotations

import datetime as dt
import json
import shutil
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from guanxi.cli.main import cli
from guanxi.engine.doctor.checks import calendar_check
from guanxi.engine.ruleset import load_ruleset
from guanxi.engine.store import open_store

RULES = Path(__file__).parent.parent / "rules"


@pytest.fixture
def listening() -> Iterator[int]:
    """A port on 127.0.0.1 that accepts connections."""
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen()
        yield server.getsockname()[1]


@pytest.fixture
def closed() -> int:
    """A port on 127.0.0.1 nothing listens on."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture
def here(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    # java and chromium found, the same lines on every machine
    monkeypatch.setattr("guanxi.engine.doctor.checks.which", lambda name: f"/bin/{name}")
    return tmp_path


def project(here: Path, delivery: str) -> Path:
    """A copy of the rules whose channels go where `delivery` says, and a store."""
    rules = here / "rules"
    shutil.copytree(RULES, rules, ignore=shutil.ignore_patterns("__pycache__", "*.py", "*.db*"))
    settings = rules / "guanxi.yaml"
    text = settings.read_text("utf-8")
    text = text.replace("    rm_task: rm_tasks\n", f"    rm_task: rm_tasks\n{delivery}", 1)
    settings.write_text(text, "utf-8")
    open_store(str(here / "guanxi.db")).close()
    return rules


def doctor(*args: str) -> Result:
    return CliRunner(env={"COLUMNS": "200"}).invoke(cli, ["doctor", "--timeout", "1", *args])


def lines(result: Result) -> dict[str, str]:
    return {c["name"]: f"{c['status']} {c['detail']}" for c in json.loads(result.stdout)["checks"]}


def test_every_check_passes_on_a_sound_deployment(here: Path, listening: int) -> None:
    rules = project(
        here,
        f"    email: {{adapter: smtp, host: 127.0.0.1, port: {listening}}}\n"
        f'    sms: {{adapter: webhook, url: "http://127.0.0.1:{listening}/send"}}\n'
        f'    app: {{adapter: amqp, url: "amqp://guest:guest@127.0.0.1:{listening}/%2F"}}\n',
    )
    result = doctor("--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["ok"] is True
    found = lines(result)
    assert found["rules"] == f"ok rules: valid (rule set {load_ruleset(rules).hash})"
    assert found["store"] == "ok guanxi.db answers"
    assert found["migrations"] == "ok all applied"
    assert found["delivery default"] == "ok outbox: writes locally"
    assert found["delivery email"] == f"ok smtp 127.0.0.1:{listening} answers"
    assert found["delivery sms"] == f"ok webhook 127.0.0.1:{listening} answers"
    assert found["delivery app"] == f"ok amqp 127.0.0.1:{listening} answers"
    assert found["time zone"].startswith("ok Asia/Shanghai: ")
    assert found["calendar"].startswith(("ok CN: ", "warn CN: "))
    assert (found["java"], found["chromium"]) == ("ok /bin/java", "ok /bin/chromium")


def test_a_server_that_does_not_answer_fails_the_doctor(here: Path, closed: int) -> None:
    project(here, f'    sms: {{adapter: webhook, url: "http://127.0.0.1:{closed}/send"}}\n')
    result = doctor()
    assert result.exit_code == 1
    assert (
        f"fail  delivery sms: webhook 127.0.0.1:{closed} does not answer (Connection refused)\n"
        in (result.stdout)
    )
    assert "ok    store: guanxi.db answers\n" in result.stdout


def test_no_store_and_missing_tools(here: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    project(here, "")
    (here / "guanxi.db").unlink()
    monkeypatch.setattr("guanxi.engine.doctor.checks.which", lambda name: None)
    result = doctor("--store", "nowhere.db")
    assert result.exit_code == 1
    assert result.stdout.splitlines()[1:2] == [
        "fail  store: no store at 'nowhere.db' — create one with 'guanxi load customers FILE'"
    ]
    assert result.stdout.splitlines()[-2:] == [
        "warn  java: not found: only classify --engine spark needs it",
        "warn  chromium: not found: only the report's PNG picture needs it"
        " (apt-get install chromium)",
    ]
    assert not (here / "nowhere.db").exists()


def test_pending_migrations_are_a_warning(here: Path) -> None:
    project(here, "")
    store = open_store("guanxi.db")
    store.execute("DELETE FROM _sqlite_migrations WHERE name = 'm013_runs_rules'")
    store.close()
    result = doctor("--json")
    assert result.exit_code == 0, result.output
    assert lines(result)["migrations"] == (
        "warn 1 migration(s) not applied (m013_runs_rules): guanxi migrate"
    )


def test_bad_rules_and_an_unset_variable_fail(here: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("GX_NO_SUCH_HOST", raising=False)
    rules = project(here, "    email: {adapter: smtp, host: '${GX_NO_SUCH_HOST}'}\n")
    found = lines(doctor("--json"))
    assert found["delivery email"] == (
        "fail smtp: channel 'email': the environment variable GX_NO_SUCH_HOST is not set"
        " (guanxi.yaml delivery refers to it as ${GX_NO_SUCH_HOST})"
    )
    (rules / "tiers.yaml").write_text("tiers: [", "utf-8")
    result = doctor("--json")
    assert result.exit_code == 1
    assert lines(result)["rules"] == "fail rules: 1 error(s): guanxi validate rules"


def test_a_secret_the_daemon_needs_unset_fails_though_the_server_answers(
    here: Path, listening: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """As the README's example: the gateway answers, but `guanxi run` would not start."""
    monkeypatch.delenv("GX_SMS_TOKEN", raising=False)
    project(
        here,
        f"    sms: {{adapter: webhook, url: 'http://127.0.0.1:{listening}/send',"
        " headers: {Authorization: 'Bearer ${GX_SMS_TOKEN}'}}\n",
    )
    result = doctor("--json")
    assert result.exit_code == 1
    assert lines(result)["delivery sms"] == (
        "fail webhook: channel 'sms': the environment variable GX_SMS_TOKEN is not set"
        " (guanxi.yaml delivery refers to it as ${GX_SMS_TOKEN})"
    )
    monkeypatch.setenv("GX_SMS_TOKEN", "secret")
    answered = lines(doctor("--json"))["delivery sms"]
    assert answered == f"ok webhook 127.0.0.1:{listening} answers"


def test_the_calendar_warns_of_a_year_whose_make_up_working_days_are_not_known() -> None:
    ruleset = load_ruleset(RULES)
    known = calendar_check(ruleset, dt.datetime(2026, 6, 1, tzinfo=dt.UTC))
    assert (known.status, known.detail) == (
        "ok",
        "CN: the holidays and make-up working days of the next three months are known",
    )
    unknown = calendar_check(ruleset, dt.datetime(2040, 1, 15, tzinfo=dt.UTC))
    assert (unknown.status, unknown.detail) == (
        "warn",
        "CN: the make-up working days (调休) of 2040 are not known yet, so business days in 2040"
        " skip the statutory holidays alone: add that year's notice of the holidays and make-up"
        " working days to the calendar_overrides file of guanxi.yaml",
    )
