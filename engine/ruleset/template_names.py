"""A step's `template:` written as people name a template (its label, its subject, a Chinese
name of one's own) instead of its id in templates.yaml: answered with the id, or with the
ids to choose from, each with its title."""

from __future__ import annotations

from guanxi.engine.diagnostics import MAX_EXPECTED
from guanxi.engine.i18n import _
from guanxi.engine.ruleset.models import TemplatesFile
from guanxi.engine.ruleset.project import Known


def template_titles(templates: TemplatesFile | None) -> dict[str, str]:
    """Each template's id and what a person calls it: its label, else its subject up to
    its first variable (`售后回访：{{ name }}` is 售后回访)."""
    if templates is None:
        return {}
    titles = {
        name: t.label or (t.subject or "").split("{{")[0] for name, t in templates.templates.items()
    }
    return {
        name: title.strip().rstrip("：:，, ") for name, title in titles.items() if title.strip()
    }


def template_choices(name: str, kind: str, known: Known) -> str:
    """The ids of the templates of this kind; for a name written in words (not ASCII), each
    with its title, so the user finds the one they meant (while that fits `expected:`)."""
    ids = [t for t, of_kind in (known.templates or {}).items() if of_kind == kind]
    titles = known.template_titles
    shown = ", ".join(f"{t} ({titles[t]})" if t in titles else t for t in ids)
    return shown if not name.isascii() and len(shown) <= MAX_EXPECTED else ", ".join(ids)


def template_name_hint(name: str, kind: str, known: Known) -> str | None:
    """The id of the template `name` names by its title, or, for another name written in
    words, that a template is named by its id."""
    kinds = known.templates or {}
    titles = {t: title for t, title in known.template_titles.items() if kinds.get(t) == kind}
    named = [t for t, title in titles.items() if _same_words(name, title)]
    if len(named) == 1:
        template = f"{named[0]} ({titles[named[0]]})"
        return _("write the template's id, not its title: {template}").format(template=template)
    if name.isascii():
        return None
    return _(
        "write the id of one of the templates expected (its key in templates.yaml), not a"
        " name in words"
    )


def _same_words(name: str, title: str) -> bool:
    """`售后回访` names the template titled `售后回访`, and `回访` does too."""
    written = name.strip()
    return min(len(written), len(title)) >= 2 and (written in title or title in written)
