"""Words the engine stores in English and shows in the reader's language."""

from __future__ import annotations

from guanxi.engine.i18n.catalog import N_, _

STATUS_WORDS: dict[str, str] = {
    "pending": N_("pending"),
    "due": N_("due"),
    "suppressed": N_("suppressed"),
    "deferred": N_("deferred"),
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
