"""Experiments at planning time: which follow-ups are held out, and which template each gets.

A step with `holdout:` keeps a share of its customers out: their follow-ups are planned like
any other, recorded `held_out` (never sent, counted against no cap or capacity), and are the
control group the report compares the treated with. `variants:` splits the treated between
templates by weight. `marketing_holdout:` in policies.yaml keeps a share of all customers out
of every marketing step.

Membership is a hash of the experiment's name and the customer id (dialect.bucket): the same
customer is in the same group on every run, on every daemon and store, without a table of who
is where. Every follow-up of such a step gets its arm whatever the consent pass decided, so
both groups hold the same mix of reachable and unreachable customers (intention to treat).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from guanxi.engine.i18n import _
from guanxi.engine.plan.followups import iso
from guanxi.engine.ruleset import RuleSet
from guanxi.engine.ruleset.ruleset import CompiledStep
from guanxi.engine.store.base import Store
from guanxi.engine.store.dialect import bucket, bucket_sql, unindexed

HELD_OUT, TREATED = "held_out", "treated"
MARKETING_HOLDOUT = "marketing_holdout"  # the experiment name of the global holdout
VARIANT_SALT = "|variant"


def experiment_of(step: CompiledStep) -> str:
    """The name membership is drawn under: `holdout: {experiment: …}`, else the step's id (a
    branch's copy `id@branch` shares the head office's)."""
    named = step.step.holdout.experiment if step.step.holdout else None
    return named or step.id.partition("@")[0]


def in_experiment(step: CompiledStep, ruleset: RuleSet) -> bool:
    marketing = ruleset.policies.marketing_holdout if ruleset.policies else None
    held = step.step.holdout or (marketing and step.step.purpose == "marketing")
    return bool(held or step.step.variants)


def assign_arms(store: Store, ruleset: RuleSet, batch: str, now: dt.datetime) -> bool:
    """Give every new follow-up of `batch` from a step in an experiment its arm and variant;
    hold out the pending ones of the held-out arm. Applying it again changes nothing. Whether
    any step is in an experiment (and so the batch may have changed)."""
    steps = [step for step in ruleset.steps if in_experiment(step, ruleset)]
    for step in steps:
        _assign(store, ruleset, step, batch, now)
    return bool(steps)


def _assign(
    store: Store, ruleset: RuleSet, step: CompiledStep, batch: str, now: dt.datetime
) -> None:
    params: dict[str, Any] = {"batch": batch, "step": step.id, "now": iso(now)}
    params["experiment"] = experiment_of(step)
    held, why = _held(store.dialect, ruleset, step, params)
    variant = _variant(store.dialect, step, params)
    # the batch's rows (followups_batch), not every batch's of the step (followups_occurrence)
    new = f"batch = :batch AND {unindexed('step_id', store.dialect)} = :step AND experiment IS NULL"
    store.execute(
        f"UPDATE followups SET experiment = :experiment,"
        f" arm = CASE WHEN {held} THEN '{HELD_OUT}' ELSE '{TREATED}' END,"
        f" variant = CASE WHEN {held} THEN NULL ELSE {variant} END,"
        f" template = CASE WHEN {held} THEN template ELSE coalesce({variant}, template) END,"
        f" policy = CASE WHEN {held} AND status = 'pending' THEN 'holdout' ELSE policy END,"
        f" reason = CASE WHEN {held} AND status = 'pending' THEN {why} ELSE reason END,"
        f" status = CASE WHEN {held} AND status = 'pending' THEN '{HELD_OUT}' ELSE status END,"
        f" updated_at = :now WHERE {new}",
        params,
    )
    store.execute(
        "INSERT INTO followup_decisions (followup_id, at, status, policy, reason)"
        f" SELECT id, :now, status, policy, reason FROM followups WHERE batch = :batch"
        f" AND step_id = :step AND status = '{HELD_OUT}' AND NOT EXISTS (SELECT 1 FROM"
        " followup_decisions d WHERE d.followup_id = followups.id AND d.policy = 'holdout')",
        {"batch": batch, "step": step.id, "now": iso(now)},
    )


def _held(
    dialect: str, ruleset: RuleSet, step: CompiledStep, params: dict[str, Any]
) -> tuple[str, str]:
    """SQL: whether a follow-up's customer is held out, and the reason a manager reads."""
    tests, reasons = [], []
    if holdout := step.step.holdout:
        params["share"] = holdout.share
        params["step_reason"] = _(
            "held out of experiment '{name}' ({share:.0%} of customers): planned, never sent,"
            " to measure what the step achieves"
        ).format(name=params["experiment"], share=holdout.share)
        test = f"{bucket_sql(_salted(':experiment'), dialect)} < :share"
        tests.append(test)
        reasons.append(f"WHEN {test} THEN :step_reason")
    marketing = ruleset.policies.marketing_holdout if ruleset.policies else None
    if marketing and step.step.purpose == "marketing":
        params["marketing"] = marketing
        params["marketing_reason"] = _(
            "in the marketing holdout ({share:.0%} of customers get no marketing): planned,"
            " never sent, to measure what marketing achieves"
        ).format(share=marketing)
        everyone = _salted(f"'{MARKETING_HOLDOUT}'")
        test = f"{bucket_sql(everyone, dialect)} < :marketing"
        tests.append(test)
        reasons.append(f"WHEN {test} THEN :marketing_reason")
    if not tests:
        return "FALSE", "NULL"
    return f"({' OR '.join(tests)})", f"CASE {' '.join(reasons)} END"


def _variant(dialect: str, step: CompiledStep, params: dict[str, Any]) -> str:
    """SQL: the template of the customer's variant, drawn by weight; NULL without variants."""
    variants = step.step.variants
    if not variants:
        return "NULL"
    total = sum(v.weight for v in variants)
    draw = bucket_sql(_salted(":experiment", VARIANT_SALT), dialect)
    whens, upto = [], 0.0
    for index, variant in enumerate(variants[:-1]):
        upto += variant.weight / total
        params[f"upto{index}"], params[f"variant{index}"] = upto, variant.template
        whens.append(f"WHEN {draw} < :upto{index} THEN :variant{index}")
    params["variant_last"] = variants[-1].template
    return f"CAST(CASE {' '.join(whens)} ELSE :variant_last END AS TEXT)"


def _salted(experiment: str, salt: str = "") -> str:
    """SQL of the text hashed: `experiment` (a parameter or a literal), `salt` (variants are
    drawn apart from the holdout), ':' and the customer id; see `member` for the same in
    Python."""
    return f"CAST({experiment} AS TEXT) || '{salt}:' || customer_id"


def member(experiment: str, customer_id: str, share: float, salt: str = "") -> bool:
    """Whether the customer is in the held-out `share` of `experiment` (as the SQL decides)."""
    return bucket(f"{experiment}{salt}:{customer_id}") < share
