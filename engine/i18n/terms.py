"""Words the engine stores in English and shows in the reader's language."""

from __future__ import annotations

from guanxi.engine.i18n.catalog import N_, _, current_language

STATUS_WORDS: dict[str, str] = {
    "pending": N_("pending"),
    "due": N_("due"),
    "suppressed": N_("suppressed"),
    "deferred": N_("deferred"),
    "over_capacity": N_("over capacity"),
    "cancelled": N_("cancelled"),
    "claimed": N_("claimed"),
    "sent": N_("sent"),
    "failed": N_("failed"),
    "dead": N_("dead"),
    "expired": N_("expired"),
    "held_out": N_("held out"),
    "held": N_("held"),
    "retry": N_("retry"),
    "requeued": N_("requeued"),
    "open": N_("open"),
    "done": N_("done"),
}


def status_word(status: str) -> str:
    """A follow-up's or delivery's status as people read it ('dead' -> '已放弃' in Chinese);
    a status without a word is shown as it is stored."""
    word = STATUS_WORDS.get(status)
    return _(word) if word else status


STEP_KIND_WORDS: dict[str, str] = {"task": N_("task"), "message": N_("message")}

QUARANTINE_KIND_WORDS: dict[str, str] = {
    "customers": N_("customer"),
    "events": N_("event"),
    "consents": N_("consent"),
    "snapshot": N_("snapshot"),
}

BOOLEAN_WORDS: dict[str, str] = {"True": N_("yes"), "False": N_("no")}

DECISION_KIND_WORDS: dict[str, str] = {
    "tier": N_("tier"),
    "level": N_("level"),
    "strategy": N_("strategy"),
}

# where a daemon's tick or start failed (`failed_stage`, see guanxi.engine.daemon.tick)
STAGE_WORDS: dict[str, str] = {
    "release": N_("loading the live release"),
    "start": N_("starting"),
    "prepare": N_("preparing the tick"),
    "dispatch": N_("delivering"),
    "plan_events": N_("planning events"),
    "plan_recurring": N_("planning recurring steps"),
    "leadership": N_("taking the lead"),
    "store_state": N_("reading the store's state"),
}


def step_kind_word(kind: str) -> str:
    """A step's kind as people read it ('task' -> '任务'); an unknown kind as stored."""
    word = STEP_KIND_WORDS.get(kind)
    return _(word) if word else kind


def quarantine_kind_word(kind: str) -> str:
    """What a quarantined row was ('customers' -> '客户'). English keeps the word --kind
    takes; Chinese shows a noun (the plural 'customers' is a count header there)."""
    return _named_in_chinese(QUARANTINE_KIND_WORDS, kind)


def decision_kind_word(kind: str) -> str:
    """tier, level or strategy as people read it ('level' -> '关系水平')."""
    word = DECISION_KIND_WORDS.get(kind)
    return _(word) if word else kind


def stage_word(stage: str) -> str:
    """Where a daemon failed: the stage as stored in English (what the logs and --json name),
    its word in Chinese ('start' -> '启动')."""
    return _named_in_chinese(STAGE_WORDS, stage)


def _named_in_chinese(words: dict[str, str], code: str) -> str:
    """`code` itself in English, where it is the name to type or grep for; its word in
    Chinese; an unknown code as stored."""
    word = words.get(code)
    if word is None or current_language() == "en":
        return code
    return _(word)


def yes_no(value: bool) -> str:
    """A true/false value: True/False in English, as the rules write it; 是/否 in Chinese."""
    return _named_in_chinese(BOOLEAN_WORDS, str(value))
