"""Load a rule project folder into a RuleSet, collecting every problem as a Diagnostic.

validate_project(folder) -> Validation(ruleset or None, diagnostics, source lines)
load_ruleset(folder)     -> RuleSet, or RuleSetInvalid carrying the diagnostics
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import re
import zoneinfo
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from types import MappingProxyType

from guanxi.engine.calendar import BusinessCalendar, read_overrides
from guanxi.engine.diagnostics import Diagnostic, did_you_mean, sort_key
from guanxi.engine.encoding import UTF8
from guanxi.engine.errors import RuleSetInvalid
from guanxi.engine.i18n import _, current_language
from guanxi.engine.ruleset.branches import (
    BRANCH_FIELD,
    apply_overlays,
    branch_capacities,
    read_overlays,
)
from guanxi.engine.ruleset.change_measures import field_change, no_change_keys
from guanxi.engine.ruleset.delivery import check_daemon, check_delivery
from guanxi.engine.ruleset.domains import (
    UNKNOWN_VALUE,
    channel_domain,
    field_domains,
    field_label_hint,
    ladder_domain,
    preferred_domain,
)
from guanxi.engine.ruleset.event_measures import MEASURE_KINDS, event_measure
from guanxi.engine.ruleset.files import unread_yaml
from guanxi.engine.ruleset.fingerprint import project_fingerprint, unhashed
from guanxi.engine.ruleset.followups import (
    PREFERRED,
    bounded,
    check_policies,
    check_steps,
    check_templates,
    default_expiry,
)
from guanxi.engine.ruleset.fullwidth import Replacement
from guanxi.engine.ruleset.groups import check_group_by, read_rollup, rollup_keys
from guanxi.engine.ruleset.kept import keep_reading, kept_reading
from guanxi.engine.ruleset.ladders import read_ladder
from guanxi.engine.ruleset.models import (
    Channel,
    LevelsFile,
    Measure,
    PlaybooksFile,
    PoliciesFile,
    ScenariosFile,
    Schema,
    Settings,
    StrategiesFile,
    TemplatesFile,
    TiersFile,
)
from guanxi.engine.ruleset.order_sense import order_to_write
from guanxi.engine.ruleset.project import Known, Project
from guanxi.engine.ruleset.reachability import check_reach
from guanxi.engine.ruleset.ruleset import (
    COMPUTED_FIELDS,
    EVENT_AGGREGATES,
    BranchCapacity,
    ComparedValue,
    CompiledMeasure,
    CompiledStep,
    FieldChange,
    Ladder,
    Origin,
    Rollup,
    RuleSet,
    ScenarioFile,
)
from guanxi.engine.ruleset.scenarios import check_scenarios, population_file
from guanxi.engine.ruleset.sizes import SizeError, parse_memory
from guanxi.engine.ruleset.template_events import check_template_events
from guanxi.engine.ruleset.template_names import template_titles
from guanxi.engine.timing import (
    DURATION_SECONDS,
    TimingError,
    parse_duration,
    parse_time_of_day,
    parse_window,
)

FIELD_NAME = re.compile(r"[a-z_][a-z0-9_]*")


@dataclass
class Validation:
    ruleset: RuleSet | None
    diagnostics: list[Diagnostic]
    lines: dict[str, list[str]] = field(default_factory=dict)
    repairs: dict[str, list[Replacement]] = field(default_factory=dict)  # by file in project
    settings: Settings | None = None  # read_settings's; a whole project's are its ruleset's

    @property
    def ok(self) -> bool:
        return self.ruleset is not None


def load_ruleset(folder: Path | str) -> RuleSet:
    result = validate_project(folder)
    if result.ruleset is None:
        raise RuleSetInvalid(result.diagnostics)
    return result.ruleset


def validate_project(folder: Path | str, shown: Path | str | None = None) -> Validation:
    """The rule project at `folder`, its diagnostics naming it `shown` (default: `folder`).

    Reading a project parses every YAML file and checks every rule (about a second of CPU for
    the default project), and a process often reads the same project again (a command
    validates, then loads; the daemon checks for edits), as does the next command: the result
    is kept, in the process and on disk (kept.py), while no file of the folder changes, by
    content, for the same name and language."""
    named = str(folder if shown is None else shown)  # as diagnostics and scenarios name it
    place = (str(Path(folder).resolve()), named, current_language())
    fingerprint = project_fingerprint(Path(folder))
    kept = _READ.get(place)
    if kept is not None and kept[0] == fingerprint:
        validation = kept[1]
    else:
        validation = _kept_or_validated(folder, shown, place, fingerprint)
    return dataclasses.replace(validation, diagnostics=list(validation.diagnostics))


KEPT_PROJECTS = 16
_READ: dict[tuple[str, str, str], tuple[str, Validation]] = {}


def _kept_or_validated(
    folder: Path | str, shown: Path | str | None, place: tuple[str, str, str], fingerprint: str
) -> Validation:
    """The validation another process kept on disk, else a new one, kept there too; kept in
    this process either way, unless its fingerprint may not say what it read."""
    found = kept_reading(place, fingerprint)
    if isinstance(found, Validation):
        validation = found
    else:
        validation = _validate(folder, shown)
        if any(map(unhashed, validation.lines)) or project_fingerprint(Path(folder)) != fingerprint:
            return validation  # a file read is left out of the hash, or changed meanwhile
        keep_reading(place, fingerprint, validation)
    _READ[place] = (fingerprint, validation)
    while len(_READ) > KEPT_PROJECTS:
        del _READ[next(iter(_READ))]
    return validation


def _validate(folder: Path | str, shown: Path | str | None) -> Validation:
    project = Project(Path(folder), str(shown or folder).rstrip("/") or ".")
    ruleset = _build(project)
    diagnostics = sorted(project.diagnostics, key=sort_key)
    failed = any(d.severity == "error" for d in diagnostics)
    lines = project.source_lines()
    return Validation(None if failed else ruleset, diagnostics, lines, project.repairs)


def _build(project: Project) -> RuleSet | None:
    settings = project.read_model("guanxi.yaml", Settings, required=True)
    schema = project.read_model("schema.yaml", Schema, required=True)
    tiers_file = project.read_model("tiers.yaml", TiersFile, required=True)
    levels_file = project.read_model("levels.yaml", LevelsFile, required=True)
    strategies_file = project.read_model("strategies.yaml", StrategiesFile, required=False)
    playbooks = project.read_model("playbooks.yaml", PlaybooksFile, required=False)
    policies = project.read_model("policies.yaml", PoliciesFile, required=False)
    templates = project.read_model("templates.yaml", TemplatesFile, required=False)
    scenario_files = _read_scenarios(project)
    _unread_files(project)
    calendar = None
    if settings:
        _check_settings(project, settings)
        calendar = _calendar(project, settings)
    if schema is None or tiers_file is None or levels_file is None:
        return None
    schema = schema.with_ids(_manager_and_group(policies, tiers_file))
    schema = schema.with_contacts(c.address_field for c in _channels(policies))
    _check_schema(project, schema)
    _field_domains(project, schema, policies)
    project.labels.update({n: (f.label, f.label_en) for n, f in schema.fields.items()})
    project.labels.update({m.name: (m.label, m.label_en) for m in tiers_file.measures})
    fields: dict[str, str] = {name: spec.type for name, spec in schema.fields.items()}
    segments = {n: t for n, t in fields.items() if n != schema.key}
    measures = _measures(project, tiers_file, schema, fields, segments)
    # every measure written, read or not: one in error brings no errors where it is used
    fields.update({m.name: "number" for m in tiers_file.measures if m.name not in fields})
    _check_gold(project, tiers_file, fields, segments)
    errors = _errors(project)
    tiers = read_ladder(project, "tiers.yaml", "tiers", tiers_file, {**fields, "gold": "boolean"})
    errors = _ladder_domain(project, errors, tiers)
    level_fields = {**fields, "gold": "boolean", "tier": "string"}
    levels = read_ladder(project, "levels.yaml", "levels", levels_file, level_fields)
    errors = _ladder_domain(project, errors, levels)
    strategies = None
    strategy_fields = {**level_fields, "level": "string"}
    strategies_read = False  # without errors: a dropped row would make its name look unknown
    if strategies_file is not None:
        strategies = read_ladder(
            project, "strategies.yaml", "strategies", strategies_file, strategy_fields
        )
        strategies_read = _ladder_domain(project, errors, strategies) == errors
    if tiers is None or levels is None:
        return None
    all_fields = {**fields, **COMPUTED_FIELDS}
    template_map = templates.templates if templates else {}
    known = _known(project, (tiers, levels, strategies), policies, templates)
    written = (("tier", tiers_file.order), ("level", levels_file.order))
    with_order = frozenset(kind for kind, order in written if order is not None)
    known = dataclasses.replace(known, gold=tiers_file.gold is not None, ordered=with_order)
    if settings:
        check_delivery(project, settings, known.channels)
    steps: list[CompiledStep] = []
    step_ids = frozenset[str]()
    if playbooks is not None:
        steps, step_ids = check_steps(project, playbooks, known, schema, all_fields)
    overlays = read_overlays(project, schema)
    branched = apply_overlays(
        project,
        overlays,
        {
            "tier": (tiers, {**fields, "gold": "boolean"}),
            "level": (levels, level_fields),
            "strategy": (strategies, strategy_fields),
        },
        steps,
        (dataclasses.replace(known, steps=step_ids), schema, all_fields),
    )
    tiers, levels = branched.ladders["tier"], branched.ladders["level"]
    strategies = branched.ladders.get("strategy")
    steps, step_ids = branched.steps, step_ids | branched.step_ids
    if policies:
        check_policies(project, policies, schema)
    if settings:
        _check_retention_needs(project, settings, measures, policies)
    # with errors in policies.yaml, those are reported, not what they cause in the overlays
    capacities: dict[str, BranchCapacity] = {}
    if _readable(project, "policies.yaml"):
        capacities = branch_capacities(project, overlays, policies)
    steps = bounded(steps, default_expiry(project, policies))
    if templates:
        used = _templates_used(steps) if _readable(project, "playbooks.yaml") else None
        check_templates(project, templates, schema, used)
        check_template_events(project, templates, schema, steps)
    if _readable(project, "playbooks.yaml"):
        labels = {s.id: s.step.label for s in steps}
        known = dataclasses.replace(known, steps=step_ids, step_labels=labels)
    if _readable(project, "tiers.yaml"):
        known = dataclasses.replace(known, measures=tuple(m.name for m in measures))
    ladders = {
        "tier": tiers.names if _readable(project, "tiers.yaml") else None,
        "level": levels.names if _readable(project, "levels.yaml") else None,
        "strategy": strategies.names if strategies is not None and strategies_read else None,
    }
    if not project.failed:  # a half-read rule set would mislead the analysis
        ordered = [x for x in (tiers, levels, strategies) if x is not None]
        check_reach(project, schema, measures, ordered, steps)
    check_scenarios(project, scenario_files, schema, known, ladders, _zone_name(settings))
    if project.failed or settings is None or calendar is None:
        return None
    return RuleSet(
        root=project.root.resolve(),
        hash=project.content_hash(),
        settings=settings,
        schema=schema,
        measures=tuple(measures),
        gold=tiers_file.gold,
        tiers=tiers,
        levels=levels,
        strategies=strategies,
        steps=tuple(steps),
        policies=policies,
        templates=MappingProxyType(dict(template_map)),
        scenarios=tuple(_scenario_file(project, n, f) for n, f in scenario_files),
        calendar=calendar,
        branches=MappingProxyType(branched.branches),
        capacities=MappingProxyType(capacities),
        compared_values=_free_texts(project, schema),
    )


def _free_texts(project: Project, schema: Schema) -> tuple[ComparedValue, ...]:
    """The texts compared with customer text fields that declare no values (nor have the
    channels as theirs): whether a customer holds one, only the store can tell."""
    free = {n for n, f in schema.fields.items() if f.type == "string"} - set(project.domains)
    return tuple(c for c in project.compared if c.field in free)


def _manager_and_group(policies: PoliciesFile | None, tiers_file: TiersFile) -> list[str]:
    """The customer fields naming the relationship manager (capacity's `owner_field`), the
    corporate group (`group_by`) and the branch (its overlay's name): ids, as the key is."""
    capacity = policies.capacity if policies else None
    return [tiers_file.group_by, *([capacity.owner_field] if capacity else []), BRANCH_FIELD]


def _channels(policies: PoliciesFile | None) -> list[Channel]:
    return list(policies.channels.values()) if policies else []


def _read_elsewhere(
    measure: Measure,
    origin: Origin,
    rollup: Rollup | None = None,
    change: FieldChange | None = None,
) -> CompiledMeasure:
    """A measure without an expression of its own: a group roll-up or a field's change."""
    return CompiledMeasure(
        measure.name,
        measure.label,
        None,
        None,
        origin,
        rollup=rollup,
        label_en=measure.label_en,
        scorecard=measure.scorecard,
        change=change,
    )


def _templates_used(steps: list[CompiledStep]) -> set[str]:
    return {t for s in steps for t in (s.step.template, *(v.template for v in s.step.variants))}


def _field_domains(project: Project, schema: Schema, policies: PoliciesFile | None) -> None:
    """The values of fields, and the channels, that conditions and tables are checked against;
    none from a file with errors (its names might be half read)."""
    if policies is not None and not _readable(project, "policies.yaml"):
        policies = None
    project.domains.update(field_domains(schema, policies))
    if policies is not None:
        project.names["channel"] = channel_domain(policies.channels)
        if (preferred := preferred_domain(PREFERRED, schema, policies)) is not None:
            project.names[PREFERRED] = preferred


def _ladder_domain(project: Project, errors_before: int, ladder: Ladder | None) -> int:
    """Register the ladder's names: for labels always, for checking the values compared with
    `tier`, `level` or `strategy` only when it was read without errors (a dropped row would
    make its name look unknown). The count of errors so far."""
    errors = _errors(project)
    if ladder is not None:
        domain = ladder_domain(ladder.kind, ladder)
        project.names[ladder.kind] = domain
        if errors == errors_before:
            project.domains[ladder.kind] = domain
    return errors


def _errors(project: Project) -> int:
    """Errors so far, but for values outside their domain (they drop no rule)."""
    return sum(1 for d in project.diagnostics if d.severity == "error" and d.code != UNKNOWN_VALUE)


def _unread_files(project: Project) -> None:
    """A warning at each YAML file the project leaves unread for its name (policies.yml)."""
    for name, write in unread_yaml(project.root):
        message = _("guanxi does not read '{name}': it reads '{write}'")
        hint = _(
            "rename the file to '{write}' (in Windows Explorer, tick 'File name extensions' to"
            " see its whole name)"
        )
        project.add(
            Diagnostic(
                project.shown(name),
                1,
                1,
                "ignored-file",
                message.format(name=name, write=write),
                hint=hint.format(write=Path(write).name),
                severity="warning",
            )
        )


def _read_scenarios(project: Project) -> list[tuple[str, ScenariosFile]]:
    folder = project.root / "tests"
    found: list[tuple[str, ScenariosFile]] = []
    for path in sorted(folder.glob("*.yaml")) if folder.is_dir() else []:
        name = f"tests/{path.name}"
        model = project.read_model(name, ScenariosFile, required=False)
        if model is not None:
            found.append((name, model))
    return found


def _scenario_file(project: Project, name: str, model: ScenariosFile) -> ScenarioFile:
    source = project.sources[name]
    lines = tuple(source.position(("scenarios", i))[0] for i in range(len(model.scenarios)))
    population = population_file(name, model.population) if model.population else None
    encoding = project.encodings.get(population or "", UTF8)
    return ScenarioFile(project.shown(name), model.scenarios, lines, population, encoding)


def _zone_name(settings: Settings | None) -> str:
    """The project's time zone to read scenario times in; UTC while it is not known."""
    if settings is None or settings.timezone not in _timezones():
        return "UTC"
    return settings.timezone


def _readable(project: Project, name: str) -> bool:
    """The file is absent (nothing to refer to) or was read without errors."""
    exists = (project.root / name).is_file()
    return not exists or not any(
        d.file == project.shown(name) and d.severity == "error" for d in project.diagnostics
    )


def _known(
    project: Project,
    ladders: tuple[Ladder, Ladder, Ladder | None],
    policies: PoliciesFile | None,
    templates: TemplatesFile | None,
) -> Known:
    tiers, levels, strategies = ladders
    channels = {n: c.kind for n, c in policies.channels.items()} if policies else {}
    template_kinds = {n: t.kind for n, t in templates.templates.items()} if templates else {}
    return Known(
        tiers=tiers.names,
        levels=levels.names,
        channels=channels if _readable(project, "policies.yaml") else None,
        templates=template_kinds if _readable(project, "templates.yaml") else None,
        template_titles=template_titles(templates),
        strategies=strategies.names if strategies is not None else (),
        lowest_first={
            "tier": tuple(order_to_write((), tiers.rules)),
            "level": tuple(order_to_write((), levels.rules)),
        },
    )


@cache
def _timezones() -> frozenset[str]:
    return frozenset(zoneinfo.available_timezones())


def read_settings(folder: Path | str, shown: Path | str | None = None) -> Validation:
    """The project's guanxi.yaml alone, with its time zone checked: what a command needs to
    find the store and say its times when the rest of the project may be broken. The
    Validation's `ruleset` is None; `settings`, None when guanxi.yaml has an error."""
    project = Project(Path(folder), str(shown or folder).rstrip("/") or ".")
    settings = project.read_model("guanxi.yaml", Settings, required=True)
    if settings:
        _check_timezone(project, settings)
    diagnostics = sorted(project.diagnostics, key=sort_key)
    usable = None if project.failed else settings
    return Validation(None, diagnostics, project.source_lines(), settings=usable)


def _check_settings(project: Project, settings: Settings) -> None:
    file = "guanxi.yaml"
    _check_timezone(project, settings)
    import holidays  # here, and in calendar.py: a project read back from the cache needs neither

    countries = holidays.list_supported_countries()
    if settings.calendar not in countries:
        project.error(
            file,
            ("calendar",),
            "unknown-calendar",
            _("'{name}' is not a known business calendar").format(name=settings.calendar),
            hint=did_you_mean(settings.calendar.upper(), countries)
            or _("use a country code such as 'CN' or 'HK'"),
        )
    check_daemon(project, settings)
    _check_classify_schedule(project, file, settings)
    _check_retention(project, settings)
    _check_consent_window(project, settings)
    try:
        parse_memory(settings.snapshot_memory)
    except SizeError as error:
        where = ("snapshot_memory",)
        project.error(file, where, "invalid-memory", str(error), hint=error.hint)


def _check_timezone(project: Project, settings: Settings) -> None:
    if settings.timezone not in _timezones():
        project.error(
            "guanxi.yaml",
            ("timezone",),
            "unknown-timezone",
            _("'{name}' is not a known time zone").format(name=settings.timezone),
            hint=_timezone_hint(settings.timezone),
        )


# China's time as people write it: 北京时间, 东八区, UTC+8, GMT+08:00, CST, Asia/Beijing
CHINA_TIME = re.compile(
    r"(?:utc|gmt)?\s*\+\s*0?8(?::?00)?|北京时间|北京|上海|东八区|中国标准时间|中国时间|cst"
    r"|(?:asia/)?beijing|china",
    re.IGNORECASE,
)
OFFSET = re.compile(r"(?:utc|gmt)\s*[+-].*", re.IGNORECASE)


def _timezone_hint(name: str) -> str:
    """What to write instead: never 'UTC' for 'UTC+8', which would move every time by 8 hours."""
    if CHINA_TIME.fullmatch(name.strip()):
        return _("write 'Asia/Shanghai' (China's time, UTC+8)")
    if OFFSET.fullmatch(name.strip()):
        return _("write the zone of a place, not an offset: e.g. 'Asia/Shanghai' for UTC+8")
    return did_you_mean(name, _timezones()) or _("use an IANA name such as 'Asia/Shanghai'")


def _check_classify_schedule(project: Project, file: str, settings: Settings) -> None:
    """classify_at at its own line, then classify_every (which reads it)."""
    try:
        parse_time_of_day(settings.classify_at)
    except TimingError as error:
        project.error(file, ("classify_at",), "invalid-time", str(error), hint=error.hint)
        return
    try:
        settings.classify_schedule()
    except TimingError as error:
        project.error(file, ("classify_every",), "invalid-cron", str(error), hint=error.hint)


def _check_retention(project: Project, settings: Settings) -> None:
    file, retention = "guanxi.yaml", settings.retention
    for kind, window in retention.windows().items():
        try:
            parse_window(window)
        except TimingError as error:
            where = ("retention", kind)
            project.error(file, where, "invalid-retention", str(error), hint=error.hint)
    try:
        parse_time_of_day(retention.at)
    except TimingError as error:
        project.error(file, ("retention", "at"), "invalid-time", str(error), hint=error.hint)


def _check_retention_needs(
    project: Project,
    settings: Settings,
    measures: list[CompiledMeasure],
    policies: PoliciesFile | None,
) -> None:
    """A window shorter than what the rules read back would change their answers as records
    go: the events an event measure counts (every event without `in_last`), the follow-ups
    (at planning) and deliveries (at sending) a frequency cap counts. One error a kind, for
    the rule that reads furthest back."""
    windows = settings.retention.windows()
    needs: list[tuple[str, int | None, str]] = []  # kind, days needed (None: all), why
    for measure in measures:
        if measure.events is not None:
            days = measure.events.days
            why = (
                _("the measure '{name}' reads every event").format(name=measure.name)
                if days is None
                else _("the measure '{name}' counts the events of the last {days} days").format(
                    name=measure.name, days=days
                )
            )
            needs.append(("events", days, why))
    for measure in measures:
        if measure.change is not None and measure.change.days is not None:
            why = _("the measure '{name}' compares with the value of {days} days before").format(
                name=measure.name, days=measure.change.days
            )
            needs.append(("field_history", measure.change.days, why))
    for cap in policies.caps if policies else ():
        try:
            per = parse_duration(cap.per)
        except TimingError:
            continue  # policies.yaml's own diagnostic
        days = -(-per.amount * DURATION_SECONDS[per.unit] // 86_400)
        why = _("the frequency cap of {channel} counts the messages of {per}").format(
            channel=cap.channel, per=per
        )
        needs += [("followups", days, why), ("deliveries", days, why)]
    longest: dict[str, tuple[int | None, str]] = {}  # the most any rule reads of each kind
    for kind, days, why in needs:
        held = longest.get(kind)
        if held is None or (held[0] is not None and (days is None or days > held[0])):
            longest[kind] = (days, why)
    for kind, (days, why) in longest.items():
        if kind not in windows:
            continue
        try:
            kept = parse_window(windows[kind]).shortest_days()
        except TimingError:
            continue  # its own diagnostic
        if days is None or kept < days:
            message = _("{kind} kept for {window} would be removed while {why}").format(
                kind=kind, window=windows[kind], why=why
            )
            hint = (
                _("give the measure an `in_last:` within the window")
                if days is None
                else _("keep them at least {days} days").format(days=days)
            )
            where = ("retention", kind)
            project.error("guanxi.yaml", where, "retention-too-short", message, hint=hint)


def _check_consent_window(project: Project, settings: Settings) -> None:
    """Consent records are the proof of the follow-ups, decisions and deliveries that relied
    on them: kept at least as long as each of those (a kind without a window: for ever)."""
    windows = settings.retention.windows()
    if "consent" not in windows:
        return
    try:
        consent = parse_window(windows["consent"]).shortest_days()
        proved = {k: parse_window(windows[k]).shortest_days() if k in windows else None
                  for k in ("followups", "decisions", "deliveries")}  # fmt: skip
    except TimingError:
        return  # their own diagnostics
    longer = [k for k, days in proved.items() if days is None or days > consent]
    if not longer:
        return
    message = _(
        "consent records kept for {window} would be removed while the {kinds} they prove are"
        " kept longer"
    ).format(window=windows["consent"], kinds=", ".join(longer))
    hint = _("keep consent records at least as long as follow-ups, decisions and deliveries")
    where = ("retention", "consent")
    project.error("guanxi.yaml", where, "retention-too-short", message, hint=hint)


def _calendar(project: Project, settings: Settings) -> BusinessCalendar | None:
    """The business calendar, with the bank's overrides file when one is named."""
    if project.failed:
        return None
    if settings.calendar_overrides is None:
        return BusinessCalendar(settings.calendar, settings.timezone)
    found = project.named_file("guanxi.yaml", ("calendar_overrides",))
    if found is None:
        return None
    name, text = found
    overrides, problems = read_overrides(text)
    for line, message in problems:
        project.add(Diagnostic(project.shown(name), line, 1, "invalid-value", message))
    return BusinessCalendar(settings.calendar, settings.timezone, overrides)


def _check_schema(project: Project, schema: Schema) -> None:
    file = "schema.yaml"
    for name in schema.fields:
        if name in COMPUTED_FIELDS:
            project.error(
                file,
                ("fields", name),
                "invalid-value",
                _("'{name}' is computed by guanxi and cannot be a customer field").format(
                    name=name
                ),
            )
        elif not FIELD_NAME.fullmatch(name):
            project.error(
                file,
                ("fields", name),
                "invalid-value",
                _("field name '{name}' must use lower-case letters, digits and _").format(
                    name=name
                ),
                hint=_("名称请使用英文小写字母; put the Chinese name in 'label'"),
            )
    for name, spec in schema.fields.items():
        if spec.unit and SCALED_UNIT.fullmatch(spec.unit.strip()):
            _scaled_unit(project, name, spec.unit.strip())
    if schema.key not in schema.fields:
        project.error(
            file,
            ("key",),
            "unknown-field",
            _("the key field '{name}' is not declared").format(name=schema.key),
            hint=did_you_mean(schema.key, schema.fields),
        )


SCALED_UNIT = re.compile(r"(?:十|百|千|万|十万|百万|千万|亿|万亿)元?")  # 万元: 10,000 元 a unit


def _scaled_unit(project: Project, name: str, unit: str) -> None:
    """`unit: 万元`: guanxi reads amounts as they are and `20万` in a condition as 200000,
    so a field counted in 万元 would compare 20万 万元 (20亿) without a word."""
    project.error(
        "schema.yaml",
        ("fields", name, "unit"),
        "invalid-value",
        _(
            "guanxi does not scale amounts by a unit of {unit}: a condition's 20万 is 200000, so"
            " '{name} >= 20万' would ask for 200000 {unit}"
        ).format(unit=unit, name=name),
        hint=_("write unit: 元 and give {name} in 元 in the customer files").format(name=name),
    )


def _measures(
    project: Project,
    tiers_file: TiersFile,
    schema: Schema,
    fields: dict[str, str],
    segments: Mapping[str, str],
) -> list[CompiledMeasure]:
    known = dict(fields)
    measures: list[CompiledMeasure] = []
    group_by = _group_by(project, tiers_file, segments)
    for index, measure in enumerate(tiers_file.measures):
        path = ("measures", index)
        origin = Origin(
            project.shown("tiers.yaml"), project.sources["tiers.yaml"].position(path)[0]
        )
        if measure.name in known:
            project.error(
                "tiers.yaml",
                (*path, "name"),
                "duplicate-name",
                _("'{name}' is already a field or measure").format(name=measure.name),
            )
        kinds = [k for k in MEASURE_KINDS if getattr(measure, k) is not None]
        if len(kinds) + len(rollup_keys(measure)) != 1:
            project.error(
                "tiers.yaml",
                path,
                "missing-key",
                _(
                    "measure '{name}' needs exactly one of 'expr:', 'percentile_of:', 'count:',"
                    " 'sum:', 'max:', 'min:', 'days_since:', 'change:', 'group_sum:',"
                    " 'group_max:' or 'group_count:'"
                ).format(name=measure.name),
            )
            known[measure.name] = "number"  # known all the same: no error where it is used
            continue
        if kinds != ["change"]:
            no_change_keys(project, path, measure)
        if not kinds:  # a roll-up over the customer's group
            _no_event_keys(project, path, measure)
            unrollable = {m.name for m in measures if m.expression is None and m.events is None}
            rollup = read_rollup(project, path, measure, group_by, known, unrollable)
            known[measure.name] = "number"
            if rollup is not None:
                measures.append(_read_elsewhere(measure, origin, rollup=rollup))
            continue
        if kinds == ["change"]:
            _no_event_keys(project, path, measure)
            change = field_change(project, schema, path, measure)
            known[measure.name] = "number"
            if change is not None:
                measures.append(_read_elsewhere(measure, origin, change=change))
            continue
        expression, events = None, None
        counts_events = kinds[0] in EVENT_AGGREGATES
        if measure.within and measure.percentile_of is None:
            _within_without_percentile(project, path, counts_events)
            if counts_events:  # most likely a window of days: one error says it
                known[measure.name] = "number"
                continue
        if counts_events:
            events = event_measure(project, schema, path, measure, kinds[0])
            if events is None:
                known[measure.name] = "number"
                continue
        else:
            _no_event_keys(project, path, measure)
        if measure.expr is not None:
            expression = project.condition("tiers.yaml", (*path, "expr"), known, numeric=True)
        elif measure.percentile_of is not None and not _numeric(
            project, (*path, "percentile_of"), measure.percentile_of, known
        ):
            known[measure.name] = "number"
            continue
        # a wrong segment is an error of its own: the measure stays known to the conditions
        _segments(project, (*path, "within"), measure.within, segments, known)
        known[measure.name] = "number"
        measures.append(
            CompiledMeasure(
                measure.name,
                measure.label,
                expression,
                measure.percentile_of,
                origin,
                measure.within if measure.percentile_of else (),
                events,
                measure.label_en,
                measure.scorecard,
            )
        )
    return measures


def _group_by(project: Project, tiers_file: TiersFile, segments: Mapping[str, str]) -> str | None:
    """The field naming each customer's group, when a measure rolls up over groups."""
    if not any(rollup_keys(m) for m in tiers_file.measures):
        return None
    ok = check_group_by(project, tiers_file.group_by, segments)
    return tiers_file.group_by if ok else None


def _no_event_keys(project: Project, path: tuple[str | int, ...], measure: Measure) -> None:
    """`in_last:` and `where:` are about events, which an `expr:` or percentile does not read."""
    for key in ("in_last", "where"):
        if getattr(measure, key) is not None:
            project.error(
                "tiers.yaml",
                (*path, key),
                "unknown-key",
                _("'{key}:' is about events; measure '{name}' reads no events").format(
                    key=key, name=measure.name
                ),
                hint=_("remove '{key}:', or count events with 'count: EVENT_TYPE'").format(key=key),
            )


def _within_without_percentile(
    project: Project, path: tuple[str | int, ...], counts_events: bool
) -> None:
    if counts_events:
        message = _("'within:' ranks a percentile among alike customers; it does not count events")
        hint = _("a window of days is 'in_last:', e.g. 'in_last: 90 days'")
    else:
        message = _("'within:' goes with 'percentile_of:', not with 'expr:'")
        hint = _("take 'within:' out, or rank with 'percentile_of:'")
    project.error("tiers.yaml", (*path, "within"), "unknown-key", message, hint=hint)


def _check_gold(
    project: Project, tiers_file: TiersFile, fields: Mapping[str, str], segments: Mapping[str, str]
) -> None:
    if tiers_file.gold is not None:
        _numeric(project, ("gold", "by"), tiers_file.gold.by, fields)
        _segments(project, ("gold", "within"), tiers_file.gold.within, segments, fields)
        _fraction_for_percent(project, ("gold", "top_percent"))


def _fraction_for_percent(project: Project, path: tuple[str, ...]) -> None:
    """`top_percent: 0.05` is the top 0.05 %, though a share elsewhere (`holdout: 0.1`) is a
    fraction: a number below 1 without a percent sign is most likely a fraction meant as 5 %."""
    written = project.sources["tiers.yaml"].value(path)
    if isinstance(written, bool) or not isinstance(written, int | float) or not 0 < written < 1:
        return
    message = _("{key}: {written} is {written} % of the customers, not {whole} %")
    whole = f"{written * 100:g}"
    project.warn(
        "tiers.yaml",
        path,
        "percent-scale",
        message.format(key=path[-1], written=written, whole=whole),
        length=len(str(written)),
        hint=_("for the top {whole} %, write {whole}; for {written} %, write {written}%").format(
            whole=whole, written=written
        ),
    )


SEGMENT_TYPES = ("string", "boolean", "integer", "date")


def _segments(
    project: Project,
    path: tuple[str | int, ...],
    within: tuple[str, ...],
    segments: Mapping[str, str],
    known: Mapping[str, str],
) -> bool:
    """`within:` names customer fields that sort customers into groups: text, yes/no, whole
    numbers and dates. Not amounts (number, datetime): nearly every customer would be a group
    of their own. Not measures: a group is what a customer is, not a value computed from it."""
    if not within:
        return True
    listed = isinstance(project.sources["tiers.yaml"].value(path), list)
    ok = True
    for index, name in enumerate(within):
        at = (*path, index) if listed else path
        if name not in segments:
            ok = False
            _unknown_segment(project, at, name, segments, known)
        elif segments[name] not in SEGMENT_TYPES:
            ok = False
            project.error(
                "tiers.yaml",
                at,
                "invalid-value",
                _("'{name}' is a {kind} field: customers cannot be grouped by it").format(
                    name=name, kind=segments[name]
                ),
                hint=_("group by a text, yes/no, whole-number or date field, such as a kind"),
            )
    return ok


def _unknown_segment(
    project: Project,
    at: tuple[str | int, ...],
    name: str,
    segments: Mapping[str, str],
    known: Mapping[str, str],
) -> None:
    """A measure or the key is known, but groups nobody: a segment is a field customers
    share."""
    message = _("no customer field '{name}'").format(name=name)
    labels = {n: ls for n, ls in project.labels.items() if n in segments}
    hint = did_you_mean(name, segments) or field_label_hint(name, labels)
    if name in known:
        message = _("customers cannot be grouped by '{name}'").format(name=name)
        hint = _("'within:' takes fields of schema.yaml other than the key, such as kind")
    project.error("tiers.yaml", at, "unknown-field", message, hint=hint)


def _numeric(
    project: Project, path: tuple[str | int, ...], name: str | None, fields: Mapping[str, str]
) -> bool:
    if name is None or name not in fields:
        project.error(
            "tiers.yaml",
            path,
            "unknown-field",
            _("no field or measure '{name}'").format(name=name),
            hint=did_you_mean(str(name), fields),
        )
        return False
    if fields[name] not in ("integer", "number"):
        message = _("'{name}' is not a number").format(name=name)
        project.error("tiers.yaml", path, "type-mismatch", message)
        return False
    return True


def today_in(ruleset: RuleSet, now: dt.datetime) -> dt.date:
    """The calendar date in the project's time zone at the instant `now`."""
    return now.astimezone(zoneinfo.ZoneInfo(ruleset.settings.timezone)).date()
