"""The views of customers (`explain`, `followups list`, `tasks list`) mask personal data
unless `--unmask` is given; an unmasked view is written to the audit log, which `guanxi audit
list` shows. On both stores, through the real CLI."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from test_plan_events import SEPT_29, customer, post
from test_tasks import inbox, message

from guanxi.cli.main import cli
from guanxi.engine.plan.events import plan_new_events
from guanxi.engine.privacy import audit
from guanxi.engine.privacy.views import Masker, personal_fields
from guanxi.engine.report.segments import Segment, SegmentRow, Segments
from guanxi.engine.ruleset import RuleSet, load_ruleset
from guanxi.engine.store import Store

RULES = Path(__file__).parent.parent / "rules"
PERSON = {"name": "张三丰", "phone": "13812345678", "email": "zhang.sanfeng@example.com"}
MASKED = ("张*丰", "138****5678", "z***@example.com")
NOW = "2026-10-01T10:00"  # in Shanghai: 02:00 UTC
CALL = "responsible_post_sale_call:C1:E1"


@pytest.fixture
def shown(store: Store, ruleset: RuleSet) -> Store:
    """C1, 张三丰, with a planned call and a task whose text names and quotes them."""
    customer(store, ruleset, "C1", "responsible", **PERSON)
    post(store, "E1", "sale", "C1", "2026-09-29T07:00:00+00:00", product="理财", amount=5e4)
    plan_new_events(store, ruleset, SEPT_29)
    body = "请致电张三丰（C1，13812345678），了解理财是否符合预期。"
    inbox(store).send(message(CALL, subject="售后回访：张三丰", body=body))
    return store


def invoke(store: Store, *args: str, actor: str = "wang.wu") -> Result:
    where = ["--rules", str(RULES), "--store", store.location]
    env = {"GUANXI_ACTOR": actor, "COLUMNS": "200"}
    result = CliRunner().invoke(cli, [*args, *where], env=env)
    assert result.exit_code == 0, result.output
    return result


def whole(text: str) -> list[str]:
    return [value for value in PERSON.values() if value in text]


@pytest.mark.every_store
def test_views_mask_personal_data_and_audit_nothing(shown: Store) -> None:
    views = [
        invoke(shown, "explain", "C1", "--now", NOW),
        invoke(shown, "explain", "C1", "--now", NOW, "--json"),
        invoke(shown, "followups", "list", "--csv"),
        invoke(shown, "tasks", "list", "--rm", "RM001", "--json"),
    ]
    for view in views:
        assert whole(view.stdout) == [], view.stdout
    assert all(masked in views[0].stdout for masked in MASKED)
    facts = json.loads(views[1].stdout)["facts"]
    assert (facts["name"], facts["phone"], facts["email"]) == MASKED
    header, *rows = csv.reader(views[2].stdout_bytes.decode("utf-8-sig").splitlines())
    call = dict(zip(header, rows[0], strict=True))
    assert (call["customer_id"], call["customer_name"]) == ("C1", "张*丰")  # the id whole
    [task] = json.loads(views[3].stdout)["tasks"]
    assert (task["title"], task["body"]) == (
        "售后回访：张*丰",
        "请致电张*丰（C1，138****5678），了解理财是否符合预期。",
    )
    assert audit.entries(shown) == []


@pytest.mark.every_store
def test_an_unmasked_view_is_audited_with_its_actor_and_listed(shown: Store) -> None:
    explained = invoke(shown, "explain", "C1", "--now", NOW, "--unmask", actor="李娜")
    assert whole(explained.stdout) == list(PERSON.values())
    listed = invoke(shown, "tasks", "list", "--rm", "RM001", "--csv", "--unmask")
    assert "请致电张三丰（C1，13812345678）" in listed.stdout_bytes.decode("utf-8-sig")

    tasks, explain = audit.entries(shown)  # newest first
    assert (explain["actor"], explain["action"], explain["subject"]) == (
        "李娜",
        "explain --unmask",
        "C1",
    )
    assert explain["at"] == "2026-10-01T02:00:00+00:00"  # the command's --now, in UTC
    assert explain["detail"] == {
        "customers": 1,
        "json": False,
        "viewed": audit.viewed(shown, ["C1"]),
    }
    assert (tasks["actor"], tasks["action"], tasks["subject"]) == (
        "wang.wu",
        "tasks list --unmask",
        None,
    )
    c1 = audit.viewed(shown, ["C1"])
    assert c1[0].startswith("erased:") and "C1" not in json.dumps(tasks["detail"])
    assert tasks["detail"] == {"customers": 1, "rm": "RM001", "status": "open", "viewed": c1}

    table = invoke(shown, "audit", "list").stdout
    assert "李娜" in table and "explain --unmask" in table and "2026-10-01 10:00" in table
    about = json.loads(invoke(shown, "audit", "list", "--customer", "C1", "--json").stdout)
    assert [(e["actor"], e["action"]) for e in about["entries"]] == [
        ("wang.wu", "tasks list --unmask"),  # a list that showed C1
        ("李娜", "explain --unmask"),
    ]
    assert about["entries"][1]["at"] == "2026-10-01T10:00:00+08:00"
    nobody = json.loads(invoke(shown, "audit", "list", "--customer", "C2", "--json").stdout)
    assert nobody["entries"] == []
    by_wang = invoke(shown, "audit", "list", "--actor", "wang.wu", "--since", "2026-10-02", "--csv")
    header, *rows = csv.reader(by_wang.stdout_bytes.decode("utf-8-sig").splitlines())
    assert header == ["id", "at", "actor", "action", "subject", "detail"]
    assert [row[2:4] for row in rows] == [["wang.wu", "tasks list --unmask"]]

    invoke(shown, "report", "--section", "segments", "--json", "--unmask")
    report = audit.entries(shown, limit=1)[0]
    assert (report["action"], report["detail"]) == ("report --unmask", {"sections": ["segments"]})


def test_the_report_masks_a_segment_by_a_personal_field() -> None:
    by_name = Segment("industry", "industry", (SegmentRow("张三丰", 2), SegmentRow(None, 1)))
    found = Segments((by_name,), None, None, labels=None)  # type: ignore[arg-type]
    masked = found.masked({"industry": "name"})
    assert [row.value for row in masked.segments[0].rows] == ["张*丰", None]
    assert found.masked({"phone": "phone"}) == found


def test_the_schema_says_which_fields_are_personal(tmp_path: Path) -> None:
    project = tmp_path / "rules"
    schema = (RULES / "schema.yaml").read_text(encoding="utf-8")
    schema = schema.replace(
        "  name:                {type: string,",
        "  name:                {personal: false, type: string,",
    ).replace(
        "  email:               {type: string,",
        "  contact_no:          {type: string, label: 联系电话, personal: phone}\n"
        "  email:               {type: string,",
    )
    copy_project(project, schema)
    assert personal_fields(load_ruleset(project).schema) == {
        "contact_no": "phone",
        "phone": "phone",
        "email": "email",
    }
    assert personal_fields(load_ruleset(RULES).schema) == {
        "name": "name",
        "phone": "phone",
        "email": "email",
    }


def test_a_wrong_kind_of_personal_data_is_an_error_at_its_line(tmp_path: Path) -> None:
    project = tmp_path / "rules"
    schema = (RULES / "schema.yaml").read_text(encoding="utf-8")
    copy_project(project, schema.replace("label: 手机号,", "label: 手机号, personal: mobile,"))
    result = CliRunner().invoke(cli, ["validate", str(project)])
    assert result.exit_code == 1
    line = next(n for n, text in enumerate(schema.splitlines(), 1) if "label: 手机号" in text)
    assert f"schema.yaml:{line}:" in result.output
    assert "'mobile' is not a kind of personal data" in result.output
    assert "write one of name, phone, email, id_number, other, or false" in result.output


def copy_project(folder: Path, schema: str) -> None:
    import shutil

    shutil.copytree(RULES, folder, ignore=shutil.ignore_patterns("__pycache__", "*.db*"))
    (folder / "schema.yaml").write_text(schema, encoding="utf-8")


def test_a_masker_masks_known_values_but_not_ids_nor_inside_words() -> None:
    kinds = {"name": "name", "phone": "phone"}
    records = [{"name": "Li", "phone": "02112345678"}, {"name": "P2", "phone": None}]
    masker = Masker.of(kinds, records, ids=["P2"])
    assert masker.text("Li and Lily called P2 from 02112345678") == (
        "L* and Lily called P2 from 02…78"
    )
    assert masker.deep({"n": [13812345678, "Li"], "ok": True}) == {
        "n": [13812345678, "L*"],
        "ok": True,
    }
    assert Masker.whole().text("13812345678") == "13812345678"


def test_what_the_console_prints_is_masked_but_its_markup_kept(
    capsys: pytest.CaptureFixture[str],
) -> None:
    from rich.markup import escape

    from guanxi.cli.masking import viewing
    from guanxi.cli.output import console, echo, print_json

    masker = Masker.of({"name": "name"}, [{"name": "张三丰"}], ids=[])
    with viewing(masker):
        console().print("[bold]C1[/bold] " + escape("[张三丰] 13812345678"))
        echo("张三丰")
        print_json({"name": "张三丰"})
    console().print("张三丰")  # outside a view: as it always was
    assert capsys.readouterr().out.splitlines() == [
        "C1 [张*丰] 138****5678",
        "张*丰",
        "{",
        '  "name": "张*丰"',
        "}",
        "张三丰",
    ]
