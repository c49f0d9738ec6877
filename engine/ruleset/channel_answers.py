"""What to write for a channel a rule file names that policies.yaml does not define: the
name of a label (短信 for sms), of an everyday word (电邮 for email), of a near spelling; or,
for a channel the project has none of (微信), that said, the channels it has with their
labels, and where a new one is declared. A step is answered only with channels of its kind
(a task's rm_task, a message's sms …), so that no answer is then refused."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence

from guanxi.engine.diagnostics import did_you_mean
from guanxi.engine.i18n import N_, _
from guanxi.engine.ruleset.domains import Domain, label_answer, label_part_hint
from guanxi.engine.ruleset.project import Project
from guanxi.engine.ruleset.synonyms import CHANNEL_WORDS

PREFERRED = "preferred"  # the customer's own preferred channel, with fallback
LABEL_OF_OTHER_KIND = {
    "message": N_("'{text}' is the label of channel '{name}', which carries tasks, not messages"),
    "task": N_("'{text}' is the label of channel '{name}', which carries messages, not tasks"),
}


def channels_of_kind(kinds: Mapping[str, str], kind: str) -> tuple[str, ...]:
    """The channels a step that does `kind` may name: those of its kind, and for a message
    the customer's preferred one."""
    own = tuple(name for name, of_kind in kinds.items() if of_kind == kind)
    return (*own, PREFERRED) if kind == "message" else own


def unknown_channel_answer(
    project: Project, name: str, channels: Sequence[str], kind: str | None = None
) -> tuple[str, str | None]:
    """The message and hint for a channel name that is not one of `channels` (those the
    place may name; a step's, of its `kind`)."""
    everyone = _domains(project, channels)
    fitting = [_within(d, channels) for d in everyone]
    labelled = _labelled_name(everyone, name)
    if labelled is not None and labelled not in channels and kind in LABEL_OF_OTHER_KIND:
        message = _(LABEL_OF_OTHER_KIND[kind]).format(text=name, name=labelled)
        return message, _none_fits_hint(fitting, channels)
    answer = label_answer(fitting, name)
    if answer is not None:
        return answer
    synonym = fitting[0].synonym_answer(name, CHANNEL_WORDS, channels) if fitting[0] else None
    hint = synonym or did_you_mean(name, channels) or label_part_hint(fitting, name)
    return _("no channel '{name}'").format(name=name), hint or _none_fits_hint(fitting, channels)


def channel_listing(project: Project, channels: Sequence[str]) -> str:
    """`sms (短信), email (电子邮件), …`: each of `channels` with its label's first word."""
    labels: dict[str, str] = {}
    for domain in _domains(project, channels):
        labels = {**(domain.labels if domain else {}), **labels}
    shown = (_short_label(labels.get(n)) for n in channels)
    return ", ".join(
        _("{name} ({label})").format(name=n, label=label) if label else n
        for n, label in zip(channels, shown, strict=True)
    )


def _domains(project: Project, channels: Sequence[str]) -> list[Domain | None]:
    found = [project.names.get("channel")]
    if PREFERRED in channels:
        found.append(project.names.get(PREFERRED))
    return found


def _within(domain: Domain | None, channels: Sequence[str]) -> Domain | None:
    if domain is None:
        return None
    names = tuple(n for n in domain.names if n in channels)
    aliases = {label: n for label, n in domain.aliases.items() if n in channels}
    return dataclasses.replace(domain, names=names, aliases=aliases)


def _labelled_name(domains: Sequence[Domain | None], text: str) -> str | None:
    folded = text.strip().casefold()
    return next((d.aliases[folded] for d in domains if d and folded in d.aliases), None)


def _none_fits_hint(domains: Sequence[Domain | None], channels: Sequence[str]) -> str:
    """The one channel there is to write, or where a channel the project lacks is declared."""
    own = [n for n in channels if n != PREFERRED]
    if len(own) == 1 and len(channels) == 1:
        label = next((d.labels[own[0]] for d in domains if d and own[0] in d.labels), None)
        if label:
            return _("write '{name}' ({label})").format(name=own[0], label=label)
        return _("write '{name}'").format(name=own[0])
    return _(
        "the project has no such channel: write one of the channels it has (expected), or"
        " declare a new one under 'channels:' in policies.yaml"
    )


def _short_label(label: str | None) -> str:
    """A label's first word, the Chinese one of '短信 SMS'."""
    return (label or "").split()[0] if (label or "").strip() else ""
