"""Escalation rules: which answers or events alert the clinical team, and how urgently.

The rules themselves are data (`questionnaires/rules.yaml`) so that a clinician can read, review and cite every
threshold; this module only knows the small condition language and how to evaluate it. Evaluation is pure (no I/O,
no Telegram, no database): the caller passes the answers and a `RuleContext` and gets `AlertDraft`s back, which it
stores, routes to clinicians and uses to choose the patient message (`highest_severity`).

Why three-valued logic: a skipped (`_skip`), unknown (`_unknown`) or not-shown answer is *no information*, not a
"no". Every condition therefore evaluates to True, False or None (unknown), combined as in Kleene logic, and a
rule fires only on True. This is what keeps `{not: {answer: x, equals: "yes"}}` from firing when x was skipped,
and what makes "adding a yes to a red flag never removes an alert" hold.

Clinical definitions used here (sources cited in the rules file too):
- pain rise: worst pain ≥ baseline worst pain + N points (N = 2 in the shipped file; Chow et al. 2012,
  `docs/clinical/pain-response.md`, `docs/clinical/red-flags.md`);
- pain persistence (issue 32): worst pain ≥ P in every questionnaire of a run of D days ending today, baseline
  excluded (`pain_persistent`; P = 8, D = 3 shipped; `docs/clinical/alerts.md` section 12);
- analgesic increase, exactly as in `docs/clinical/pain-response.md`: with B = baseline OMED and F = current
  OMED, F ≥ K × B when B > 0, F > 0 when B = 0, and an unknown OMED is never an increase (K = 1.25 shipped).
"""

from __future__ import annotations

import math
from collections.abc import Collection, Iterable, Iterator, Mapping
from dataclasses import dataclass, field, replace
from datetime import date
from fractions import Fraction
from pathlib import Path
from typing import Annotated, ClassVar, Literal

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Discriminator,
    Field,
    Tag,
    ValidationError,
    field_validator,
    model_validator,
)

from bot.domain.followup import ACTIONS
from bot.domain.yaml_io import load_yaml

__all__ = [
    "AlertDraft",
    "BASELINE_QUESTIONNAIRE",
    "DEFAULT_QUESTIONNAIRE_IDS",
    "EVENTS",
    "ExpectedAfterAction",
    "FREE_TEXT_ITEM",
    "NO_ANSWER_MARKERS",
    "OMED_RELATIVE_TOLERANCE",
    "PainPoint",
    "Rule",
    "Reference",
    "RuleContext",
    "RuleSet",
    "RulesFileError",
    "SEVERITY_ORDER",
    "Severity",
    "ADVICE_ORDER",
    "Advice",
    "RepeatPolicy",
    "advice_for",
    "evaluate_answers",
    "evaluate_event",
    "highest_severity",
    "is_analgesic_increase",
    "load_rules",
    "parse_rules",
]

Severity = Literal["urgent", "same_day", "info"]

#: Most severe first: the order of `evaluate_answers`' result and of `highest_severity`.
SEVERITY_ORDER: tuple[Severity, ...] = ("urgent", "same_day", "info")
_RANK: dict[str, int] = {severity: rank for rank, severity in enumerate(SEVERITY_ORDER)}

#: Answer values that mean "no usable answer" (the questionnaire engine's markers).
NO_ANSWER_MARKERS: frozenset[str] = frozenset({"_skip", "_unknown"})

#: The questionnaire against which "rise from baseline" and "analgesic increase" are measured: it never fires
#: them against itself.
BASELINE_QUESTIONNAIRE = "baseline"

#: Questionnaire ids a rule may name in `questionnaires:` unless the caller of `load_rules` says otherwise
#: (a typo there would silently switch a rule off).
DEFAULT_QUESTIONNAIRE_IDS: frozenset[str] = frozenset({"baseline", "daily", "followup", "weekly"})

#: The optional text item whose content is "a message the patient chose to send to the team" (`free_text` event).
FREE_TEXT_ITEM = "message_team"

EventName = Literal[
    "missed",
    "missed_primary_soon",
    "free_text",
    "free_text_red_flag",
    "urgent_unacknowledged",
    "silent_after_alert",
]
#: Events the scheduler / alert service may report with `evaluate_event`.
EVENTS: tuple[str, ...] = (
    "missed",
    "missed_primary_soon",
    "free_text",
    "free_text_red_flag",
    "urgent_unacknowledged",
    "silent_after_alert",
)

ContextName = Literal["on_chemo", "has_baseline", "on_fentanyl_patch"]

#: What the patient is told at once, by kind of alert (the wording is in `bot.delivery.advice_text`):
#: neuro — a new neurological sign: call 15 / 112 now, even if it has eased; toxicity — possible opioid overdose;
#: fever — fever with (possible) chemotherapy: call now; urgent — any other urgent answer; inclusion — a red flag
#: found before the first fraction: contact the team now; same_day — the team calls back (at working hours);
#: suicide — suicidal thoughts or an intentional overdose: 3114 (national suicide prevention line) and 15 / 112;
#: emergency — a life-threatening sign (unconscious, seizure, bleeding, chest pain, breathlessness): 15 / 112 now,
#: never the opioid advice;
#: toxicity_patch — the opioid toxicity advice for a fentanyl patch wearer: remove the patch, then call;
#: fever_maybe_chemo — the fever advice when chemotherapy is not known (it does not say "with chemotherapy");
#: same_day_now — a same-day sign that cannot wait for the next working day (vomiting everything, cannot swallow,
#: uncontrolled pain): the team calls today when it can, and outside that, the on-call number is to be called now
#: (issue 32); same_day is for what may wait for the team's call (constipation, night pain).
Advice = Literal[
    "suicide",
    "emergency",
    "neuro",
    "toxicity_patch",
    "toxicity",
    "fever",
    "fever_maybe_chemo",
    "urgent",
    "inclusion",
    "same_day_now",
    "same_day",
]
#: Most pressing first: when several alerts fire together, the patient gets the first advice of this order.
ADVICE_ORDER: tuple[Advice, ...] = (
    "suicide",
    "emergency",
    "neuro",
    "toxicity_patch",
    "toxicity",
    "fever",
    "fever_maybe_chemo",
    "urgent",
    "inclusion",
    "same_day_now",
    "same_day",
)

Truth = bool | None  # None = unknown (no usable answer); a rule fires only on True.


class RulesFileError(ValueError):
    """The rules file is unreadable or invalid; `problems` lists every problem found, one per line."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__("\n".join(problems))


# --------------------------------------------------------------------------------------------------------------
# Condition language (validated by pydantic at load time)
# --------------------------------------------------------------------------------------------------------------


class _Model(BaseModel):
    """Frozen, and strict about unknown keys so that a misspelt operator is an error, not a silent no-op."""

    model_config = ConfigDict(extra="forbid", frozen=True)


def _refuse_bool(value: object) -> object:
    """Refuse YAML booleans where an answer value is expected.

    YAML 1.1 reads unquoted `yes`/`no`/`true`/`false` as booleans, but yes/no answers are the strings "yes"/"no":
    `equals: yes` would never match, so it is an error with the fix in the message.
    """
    values = value if isinstance(value, (list, tuple)) else [value]
    if any(isinstance(v, bool) for v in values):
        raise ValueError('answer values are strings or numbers, not booleans: quote yes/no answers ("yes", "no")')
    return value


AnswerValue = (
    Annotated[str, Field(strict=True)] | Annotated[int, Field(strict=True)] | Annotated[float, Field(strict=True)]
)
Number = Annotated[float, Field(strict=True)]


class AnswerCondition(_Model):
    """Compare one answer with a value: exactly one of equals / in / gte / gt / lte / lt."""

    kind: ClassVar[str] = "answer"
    answer: str = Field(min_length=1)
    equals: AnswerValue | None = None
    in_: tuple[AnswerValue, ...] | None = Field(default=None, alias="in", min_length=1)
    gte: Number | None = None
    gt: Number | None = None
    lte: Number | None = None
    lt: Number | None = None
    #: `unknown: true`: the patient answered "Je ne sais pas" (the engine's `_unknown`), which is information in
    #: itself where not knowing is the risk (chemotherapy status with a fever).
    unknown: Literal[True] | None = None

    _OPERATORS: ClassVar[tuple[str, ...]] = ("equals", "in_", "gte", "gt", "lte", "lt", "unknown")

    _no_bool = field_validator("equals", "in_", mode="before")(_refuse_bool)

    @model_validator(mode="after")
    def _exactly_one_operator(self) -> AnswerCondition:
        given = [name for name in self._OPERATORS if getattr(self, name) is not None]
        if len(given) != 1:
            raise ValueError(
                f"answer condition on {self.answer!r} needs exactly one of equals, in, gte, gt, lte, lt, unknown "
                f"(got {', '.join(n.rstrip('_') for n in given) or 'none'})"
            )
        return self


class PainRiseCondition(_Model):
    """Worst pain ≥ baseline worst pain + N points."""

    kind: ClassVar[str] = "pain_rise_from_baseline"
    pain_rise_from_baseline: Annotated[int, Field(strict=True, ge=1, le=10)]


class AnalgesicIncreaseCondition(_Model):
    """Current OMED ≥ K × baseline OMED (baseline > 0), or > 0 (baseline = 0) — pain-response.md."""

    kind: ClassVar[str] = "analgesic_increase"
    analgesic_increase: Annotated[float, Field(strict=True, gt=1.0)]


class PainPersistence(_Model):
    """`at_least` points of worst pain, reported for `days` days in a row (see `PainPersistentCondition`)."""

    at_least: Annotated[int, Field(strict=True, ge=1, le=10)]
    days: Annotated[int, Field(strict=True, ge=2, le=30)]


class PainPersistentCondition(_Model):
    """Worst pain ≥ `at_least` now and in every questionnaire answered since the first of a run that began at least
    `days - 1` days ago (a run of `days` days, today included; baseline excluded). Issue 32: a severe pain that
    neither rises nor crosses 9 (8/10 from a baseline of 7) must not stay silent however long it lasts."""

    kind: ClassVar[str] = "pain_persistent"
    pain_persistent: PainPersistence


class ContextCondition(_Model):
    """A fact about the patient known before this questionnaire (from `RuleContext`)."""

    kind: ClassVar[str] = "context"
    context: ContextName
    equals: Annotated[bool, Field(strict=True)]


class EventCondition(_Model):
    """Fires on a reported event rather than on answers; only allowed as a rule's whole condition."""

    kind: ClassVar[str] = "event"
    event: EventName


class AllCondition(_Model):
    kind: ClassVar[str] = "all"
    all_: tuple[Condition, ...] = Field(alias="all", min_length=1)


class AnyCondition(_Model):
    kind: ClassVar[str] = "any"
    any_: tuple[Condition, ...] = Field(alias="any", min_length=1)


class NotCondition(_Model):
    kind: ClassVar[str] = "not"
    not_: Condition = Field(alias="not")


_KINDS: tuple[str, ...] = (
    "answer",
    "pain_rise_from_baseline",
    "pain_persistent",
    "analgesic_increase",
    "context",
    "event",
    "all",
    "any",
    "not",
)


def _condition_kind(value: object) -> str | None:
    """Pick the condition model from the key that names its kind (first match wins; extra keys then fail)."""
    if isinstance(value, _Model):
        return getattr(value, "kind", None)
    if isinstance(value, Mapping):
        for key in _KINDS:
            if key in value:
                return key
    return None


Condition = Annotated[
    Annotated[AnswerCondition, Tag("answer")]
    | Annotated[PainRiseCondition, Tag("pain_rise_from_baseline")]
    | Annotated[PainPersistentCondition, Tag("pain_persistent")]
    | Annotated[AnalgesicIncreaseCondition, Tag("analgesic_increase")]
    | Annotated[ContextCondition, Tag("context")]
    | Annotated[EventCondition, Tag("event")]
    | Annotated[AllCondition, Tag("all")]
    | Annotated[AnyCondition, Tag("any")]
    | Annotated[NotCondition, Tag("not")],
    Discriminator(
        _condition_kind,
        custom_error_type="unknown_condition",
        custom_error_message="a condition is a mapping with one of the keys: " + ", ".join(_KINDS),
    ),
]

for _model in (AllCondition, AnyCondition, NotCondition):
    _model.model_rebuild()


def _children(condition: Condition) -> tuple[Condition, ...]:
    if isinstance(condition, AllCondition):
        return condition.all_
    if isinstance(condition, AnyCondition):
        return condition.any_
    if isinstance(condition, NotCondition):
        return (condition.not_,)
    return ()


def _walk(condition: Condition) -> Iterator[Condition]:
    yield condition
    for child in _children(condition):
        yield from _walk(child)


class RepeatPolicy(_Model):
    """How often the same news may alert again for one patient (alarm fatigue: PRO-TECT, Basch et al.).

    Within `within_days` of the rule's last alert for this patient — or, with `until_below`, for as long as the
    episode lasts — the rule does not alert again, unless the answer named by `unless_higher` is higher than it was
    then (a worse pain is news). The firing is still recorded (suppressed_alerts, audit trail), never dropped.
    """

    within_days: Annotated[int, Field(strict=True, ge=1, le=90)] | None = None
    unless_higher: str | None = None
    #: Episode instead of a window (issue 15, "only a worse value re-alerts"): after the rule's last alert, the
    #: same news does not alert again — however long it lasts — until the `unless_higher` answer has been given
    #: below this value in a completed questionnaire (the episode ended; a new one alerts), unless it is higher
    #: than at the last alert.
    until_below: Annotated[float, Field(strict=True, ge=0)] | None = None
    #: With `until_below` (issue 32): an episode that lasts this many days after the rule's last alert alerts again
    #: (a pain that persists is news again: nothing the team did has relieved it), open alert or not.
    again_after_days: Annotated[int, Field(strict=True, ge=1, le=90)] | None = None

    @model_validator(mode="after")
    def _window_or_episode(self) -> RepeatPolicy:
        if (self.within_days is None) == (self.until_below is None):
            raise ValueError("repeat needs exactly one of `within_days` (a window) or `until_below` (an episode)")
        if self.until_below is not None and not self.unless_higher:
            raise ValueError("repeat.until_below needs `unless_higher`: the answer whose value ends the episode")
        if self.again_after_days is not None and self.until_below is None:
            raise ValueError("repeat.again_after_days is for an episode (`until_below`); a window already ends")
        return self


class ExpectedAfterAction(_Model):
    """A change the team recorded it made is not news when the patient reports it (issue 15).

    After "Pris en charge" the team says what it did (`bot.domain.followup.ACTIONS`). When the current action of
    one of the patient's alerts is `action` (e.g. "analgesics": analgesics changed), recorded within `within_days`,
    the first firing of this rule after it — an analgesic increase of at most `up_to` times the OMED compared with
    — is the team's own order: stored (reason "ordered") and used as the new reference, not alerted. Only for an
    analgesic-increase rule with `compare_with: last_acknowledged` (what the later reports are compared with).
    """

    action: str
    within_days: Annotated[int, Field(strict=True, ge=1, le=90)]
    up_to: Annotated[float, Field(gt=1, le=10)]

    @field_validator("action")
    @classmethod
    def _known_action(cls, value: str) -> str:
        if value not in ACTIONS:
            raise ValueError(f"unknown action {value!r}; expected one of {', '.join(ACTIONS)}")
        return value


class Rule(_Model):
    """One escalation rule as written in the rules file."""

    id: str = Field(pattern=r"^[a-z0-9_]+$")
    severity: Severity
    title: str = Field(min_length=1)
    source: str = Field(min_length=1)
    #: Restrict the rule to these questionnaire ids; None = every questionnaire.
    questionnaires: tuple[str, ...] | None = Field(default=None, min_length=1)
    #: Free-text explanation for reviewers (kept with the rule, not shown to patients).
    note: str | None = None
    #: What the patient is told (see `Advice`); by default `urgent` or `same_day` from the severity.
    advice: Advice | None = None
    #: Suppress repeats of the same news (see `RepeatPolicy`); None = every firing alerts.
    repeat: RepeatPolicy | None = None
    #: Rules that say the same news more precisely or more urgently: when one of them fires on the same answers,
    #: this one does not (one alert per news: fever with chemotherapy is urgent, not also "fever" same-day).
    superseded_by: tuple[str, ...] = ()
    #: What a relative condition (pain rise, analgesic increase) compares with: the baseline questionnaire, or the
    #: state at this rule's last *acknowledged* alert for the patient (baseline while there is none) — once the team
    #: has raised the opioids by 25 % and said so, later questionnaires at that dose are not news (issue 15).
    compare_with: Literal["baseline", "last_acknowledged"] = "baseline"
    #: The change the team recorded it made, reported by the patient, is not news (see `ExpectedAfterAction`).
    expected_after: ExpectedAfterAction | None = None
    condition: Condition

    @model_validator(mode="after")
    def _events_stand_alone(self) -> Rule:
        """An event is not an answer: mixing it into all/any/not would have no meaning for the evaluator."""
        nested = [c for c in _walk(self.condition) if isinstance(c, EventCondition) and c is not self.condition]
        if nested:
            raise ValueError("an {event: ...} condition must be the whole condition, not inside all/any/not")
        if isinstance(self.condition, EventCondition) and self.questionnaires is not None:
            raise ValueError("`questionnaires` has no meaning for an event rule")
        if self.expected_after is not None and (
            self.compare_with != "last_acknowledged"
            or not any(isinstance(c, AnalgesicIncreaseCondition) for c in _walk(self.condition))
        ):
            raise ValueError("`expected_after` is for an analgesic-increase rule with compare_with: last_acknowledged")
        return self

    @property
    def is_event(self) -> bool:
        return isinstance(self.condition, EventCondition)

    @property
    def worse_key(self) -> str | None:
        """The value whose rise makes a new occurrence worse news than the open alert (None: never worse).

        `repeat.unless_higher` when given; otherwise the value a relative condition measures: the worst pain for a
        pain rise, the current OMED for an analgesic increase.
        """
        if self.repeat is not None and self.repeat.unless_higher:
            return self.repeat.unless_higher
        for condition in _walk(self.condition):
            if isinstance(condition, (PainRiseCondition, PainPersistentCondition)):
                return "pain_worst"
            if isinstance(condition, AnalgesicIncreaseCondition):
                return "current_omed"
        return None

    def answer_items(self) -> frozenset[str]:
        """Item ids this rule reads from the answers (for the known-items check)."""
        items = {c.answer for c in _walk(self.condition) if isinstance(c, AnswerCondition)}
        if self.repeat is not None and self.repeat.unless_higher:
            items.add(self.repeat.unless_higher)
        return frozenset(items)

    @property
    def patient_advice(self) -> Advice | None:
        """The advice this rule's alert gives the patient (None for information only)."""
        if self.advice is not None:
            return self.advice
        if self.severity == "urgent":
            return "urgent"
        if self.severity == "same_day":
            return "same_day"
        return None


@dataclass(frozen=True)
class RuleSet:
    """The validated rules, in file order."""

    rules: tuple[Rule, ...]
    origin: str = "<memory>"

    def __iter__(self) -> Iterator[Rule]:
        return iter(self.rules)

    def __len__(self) -> int:
        return len(self.rules)

    @property
    def ids(self) -> tuple[str, ...]:
        return tuple(rule.id for rule in self.rules)

    def event_rule_ids(self, event: str) -> frozenset[str]:
        """Ids of the rules raised by `event` (e.g. to recognise the free-text alert among answer drafts)."""
        return frozenset(
            rule.id
            for rule in self.rules
            if isinstance(rule.condition, EventCondition) and rule.condition.event == event
        )

    def get(self, rule_id: str) -> Rule:
        """The rule with this id (KeyError if none)."""
        for rule in self.rules:
            if rule.id == rule_id:
                return rule
        raise KeyError(rule_id)


# --------------------------------------------------------------------------------------------------------------
# Loading
# --------------------------------------------------------------------------------------------------------------


def _format_errors(exc: ValidationError) -> list[str]:
    """Readable pydantic errors: `condition.any.0.answer: <problem>`.

    The union tag and the field alias repeat in pydantic's location (`any.any`), so repeats are collapsed; a
    list's "too short" error that only echoes its children's failures is dropped.
    """
    errors = exc.errors()
    locs = [tuple(error.get("loc", ())) for error in errors]
    lines: list[str] = []
    for error, loc in zip(errors, locs):
        if error.get("type") == "too_short" and any(o[: len(loc)] == loc and len(o) > len(loc) for o in locs):
            continue
        parts: list[str] = []
        for part in loc:
            if not parts or parts[-1] != str(part):
                parts.append(str(part))
        message = str(error.get("msg", "invalid")).removeprefix("Value error, ")
        lines.append(f"{'.'.join(parts)}: {message}" if parts else message)
    return lines


def parse_rules(
    document: object,
    *,
    origin: str = "<memory>",
    known_items: Collection[str] | None = None,
    known_questionnaires: Collection[str] | None = DEFAULT_QUESTIONNAIRE_IDS,
) -> RuleSet:
    """Validate an already-parsed rules document (`{version: 1, rules: [...]}`).

    Every problem is collected (not just the first) so a reviewer fixes the file in one pass; each line names
    `origin`, the rule id (or its position when the id itself is missing) and the problem.
    `known_items`: if given, an answer condition naming any other item id is an error (catches typos and
    renamed items). `known_questionnaires`: the ids allowed in `questionnaires:` (None = anything).
    """
    if not isinstance(document, Mapping):
        raise RulesFileError([f"{origin}: expected a mapping with a `rules:` list at the top level"])
    problems: list[str] = []
    unexpected = sorted(set(map(str, document)) - {"version", "rules"})
    if unexpected:
        problems.append(f"{origin}: unknown top-level key(s): {', '.join(unexpected)}")
    if document.get("version", 1) != 1:
        problems.append(f"{origin}: unsupported version {document.get('version')!r} (expected 1)")
    raw_rules = document.get("rules")
    if not isinstance(raw_rules, list) or not raw_rules:
        problems.append(f"{origin}: `rules:` must be a non-empty list")
        raise RulesFileError(problems)

    rules: list[Rule] = []
    seen: dict[str, int] = {}
    for position, raw in enumerate(raw_rules, start=1):
        raw_id = raw.get("id") if isinstance(raw, Mapping) else None
        label = f"rule {raw_id!r}" if isinstance(raw_id, str) and raw_id else f"rule #{position}"
        if not isinstance(raw, Mapping):
            problems.append(f"{origin}: {label}: expected a mapping, got {type(raw).__name__}")
            continue
        if isinstance(raw_id, str) and raw_id:
            if raw_id in seen:
                problems.append(f"{origin}: {label}: duplicate id (rules #{seen[raw_id]} and #{position})")
            else:
                seen[raw_id] = position
        try:
            rule = Rule.model_validate(raw)
        except ValidationError as exc:
            problems.extend(f"{origin}: {label}: {line}" for line in _format_errors(exc))
            continue
        if known_items is not None:
            unknown = sorted(rule.answer_items() - set(known_items))
            if unknown:
                problems.append(f"{origin}: {label}: unknown item id(s) in condition: {', '.join(unknown)}")
        if known_questionnaires is not None and rule.questionnaires is not None:
            unknown_q = sorted(set(rule.questionnaires) - set(known_questionnaires))
            if unknown_q:
                problems.append(f"{origin}: {label}: unknown questionnaire id(s): {', '.join(unknown_q)}")
        rules.append(rule)

    ids = {rule.id for rule in rules}
    for rule in rules:
        unknown_ids = sorted(set(rule.superseded_by) - ids)
        if unknown_ids:
            problems.append(
                f"{origin}: rule {rule.id!r}: superseded_by names unknown rule(s): {', '.join(unknown_ids)}"
            )
    if problems:
        raise RulesFileError(problems)
    return RuleSet(rules=tuple(rules), origin=origin)


def load_rules(
    path: str | Path,
    *,
    known_items: Collection[str] | None = None,
    known_questionnaires: Collection[str] | None = DEFAULT_QUESTIONNAIRE_IDS,
) -> RuleSet:
    """Read and validate the rules file; raise `RulesFileError` naming the file, rule id and problem."""
    origin = str(path)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise RulesFileError([f"{origin}: cannot read the rules file: {exc.strerror or exc}"]) from exc
    try:
        document = load_yaml(text)
    except yaml.YAMLError as exc:
        raise RulesFileError([f"{origin}: not valid YAML: {exc}"]) from exc
    return parse_rules(document, origin=origin, known_items=known_items, known_questionnaires=known_questionnaires)


# --------------------------------------------------------------------------------------------------------------
# Evaluation (pure)
# --------------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class RuleContext:
    """What the rules need to know besides the answers being evaluated."""

    baseline_pain_worst: int | None  # from the baseline questionnaire
    baseline_omed: float | None  # mg/day
    current_omed: float | None  # mg/day computed for the answers being evaluated
    on_chemo: bool
    has_baseline: bool = True  # a baseline questionnaire with a worst-pain score exists
    #: Per rule id (rules with `compare_with: last_acknowledged`): the state at that rule's last acknowledged alert,
    #: used instead of the baseline pain / OMED. A rule absent here compares with the baseline.
    references: Mapping[str, Reference] = field(default_factory=dict)
    #: A fentanyl patch in the current regimen (the toxicity advice then says to remove it).
    on_fentanyl_patch: bool = False
    #: Worst pain of the earlier questionnaires (baseline excluded), oldest first, and the day of this one
    #: (`pain_persistent`); empty / None: persistence is unknown.
    pain_history: tuple[PainPoint, ...] = ()
    today: date | None = None


@dataclass(frozen=True)
class PainPoint:
    """One earlier questionnaire's worst pain and the day it was for."""

    day: date
    pain_worst: int | float


@dataclass(frozen=True)
class Reference:
    """The state a relative rule was last acknowledged at: worst pain and OMED (None: not recorded then)."""

    alert_id: int
    pain_worst: int | float | None
    omed: float | None


@dataclass(frozen=True)
class AlertDraft:
    """An alert to raise, before it is stored and routed."""

    rule_id: str
    severity: Severity
    title: str
    source: str
    fired: dict[str, object] = field(default_factory=dict)  # answers / context values that made it fire
    advice: Advice | None = None  # what the patient is told (None: information only)
    repeat: RepeatPolicy | None = None


def _is_number(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and not math.isnan(value)


def _usable(value: object) -> bool:
    """False for the engine's no-answer markers, None and NaN."""
    if value is None:
        return False
    if isinstance(value, str):
        return value not in NO_ANSWER_MARKERS
    if isinstance(value, float):
        return not math.isnan(value)
    return True


def _same(answer: object, expected: object) -> bool:
    """Equality tolerant of how YAML typed the expected value.

    Numbers compare as numbers (4 == 4.0), a number and a numeric text too (a code "2" matches a YAML 2, and a
    YAML "4" matches an answer 4.0); any other pair compares as text. Booleans never match.
    """
    if isinstance(answer, bool) or isinstance(expected, bool):
        return False
    if _is_number(answer) and _is_number(expected):
        return answer == expected
    if _is_number(answer) or _is_number(expected):
        number, text = (answer, expected) if _is_number(answer) else (expected, answer)
        try:
            return float(str(text)) == number
        except ValueError:
            return False
    return str(answer) == str(expected)


#: Not clinical, numerical: an OMED within this relative distance below the threshold counts as at it. OMEDs are
#: products of conversion factors (codeine × 1/6 gives 33.333…), so an intended "exactly +25 %" may land a hair
#: below in binary floating point. Same convention as OMED_RELATIVE_TOLERANCE in bot/domain/endpoints.py.
OMED_RELATIVE_TOLERANCE = Fraction(1, 10**9)


def is_analgesic_increase(baseline_omed: float | None, current_omed: float | None, factor: float) -> Truth:
    """pain-response.md's "analgesic increase": F ≥ factor × B when B > 0; F > 0 when B = 0; unknown → None.

    A negative or NaN OMED is treated as unknown. The comparison is exact rational arithmetic, with the factor
    read as the decimal written in the rules file (1.1 means 11/10), plus OMED_RELATIVE_TOLERANCE.
    """
    if not (_is_number(baseline_omed) and _is_number(current_omed)):
        return None
    assert baseline_omed is not None and current_omed is not None  # for the type checker
    if baseline_omed < 0 or current_omed < 0 or math.isinf(baseline_omed) or math.isinf(current_omed):
        return None
    if baseline_omed == 0:
        return current_omed > 0
    value = Fraction(current_omed)
    limit = Fraction(repr(factor)) * Fraction(baseline_omed)
    return value >= limit or limit - value <= OMED_RELATIVE_TOLERANCE * limit


_Outcome = tuple[Truth, dict[str, object]]


def _evaluate(
    condition: Condition, questionnaire_id: str, answers: Mapping[str, object], context: RuleContext
) -> _Outcome:
    """Kleene evaluation; the dict holds the inputs that decided the outcome (the draft's `fired`)."""
    if isinstance(condition, AnswerCondition):
        return _evaluate_answer(condition, answers)

    if isinstance(condition, PainRiseCondition):
        if questionnaire_id == BASELINE_QUESTIONNAIRE:
            return None, {}
        pain = answers.get("pain_worst")
        baseline = context.baseline_pain_worst
        if not (_is_number(pain) and _is_number(baseline)):
            return None, {}
        assert isinstance(pain, (int, float)) and baseline is not None
        inputs: dict[str, object] = {"pain_worst": pain, "baseline_pain_worst": baseline}
        return pain >= baseline + condition.pain_rise_from_baseline, inputs

    if isinstance(condition, PainPersistentCondition):
        if questionnaire_id == BASELINE_QUESTIONNAIRE:
            return None, {}
        return _pain_persistent(condition.pain_persistent, answers.get("pain_worst"), context)

    if isinstance(condition, AnalgesicIncreaseCondition):
        if questionnaire_id == BASELINE_QUESTIONNAIRE:
            return None, {}
        truth = is_analgesic_increase(context.baseline_omed, context.current_omed, condition.analgesic_increase)
        if truth is None:
            return None, {}
        return truth, {"baseline_omed": context.baseline_omed, "current_omed": context.current_omed}

    if isinstance(condition, ContextCondition):
        value = getattr(context, condition.context)
        return value == condition.equals, {condition.context: value}

    if isinstance(condition, AllCondition):
        outcomes = [_evaluate(c, questionnaire_id, answers, context) for c in condition.all_]
        if any(truth is False for truth, _ in outcomes):
            return False, _merge(inputs for truth, inputs in outcomes if truth is False)
        if any(truth is None for truth, _ in outcomes):
            return None, {}
        return True, _merge(inputs for _, inputs in outcomes)

    if isinstance(condition, AnyCondition):
        outcomes = [_evaluate(c, questionnaire_id, answers, context) for c in condition.any_]
        if any(truth is True for truth, _ in outcomes):
            return True, _merge(inputs for truth, inputs in outcomes if truth is True)
        if any(truth is None for truth, _ in outcomes):
            return None, {}
        return False, _merge(inputs for _, inputs in outcomes)

    if isinstance(condition, NotCondition):
        truth, inputs = _evaluate(condition.not_, questionnaire_id, answers, context)
        return (None if truth is None else not truth), inputs

    # EventCondition never reaches here: the loader keeps events at the top level and the callers route them.
    raise TypeError(f"cannot evaluate {type(condition).__name__} against answers")


def _pain_persistent(rule: PainPersistence, pain: object, context: RuleContext) -> _Outcome:
    """True when the run of worst pains ≥ `at_least` ending now began `days - 1` days ago or earlier.

    The run is read backwards from the latest earlier questionnaire; a lower pain ends it. A pain not given now is
    unknown; a history too short to span `days` days is False (not yet persistent).
    """
    if not _is_number(pain) or context.today is None:
        return None, {}
    assert isinstance(pain, (int, float))
    if pain < rule.at_least:
        return False, {"pain_worst": pain}
    since = context.today
    for point in reversed(context.pain_history):
        if point.day > context.today:
            continue
        if point.pain_worst < rule.at_least:
            break
        since = point.day
    days = (context.today - since).days + 1
    return days >= rule.days, {"pain_worst": pain, "severe_pain_since": since.isoformat()}


def _evaluate_answer(condition: AnswerCondition, answers: Mapping[str, object]) -> _Outcome:
    if condition.answer not in answers:
        return None, {}  # the item was not shown
    value = answers[condition.answer]
    if condition.unknown is not None and value == "_unknown":
        return True, {condition.answer: value}
    if not _usable(value):
        return None, {}
    inputs: dict[str, object] = {condition.answer: value}
    if condition.equals is not None:
        return _same(value, condition.equals), inputs
    if condition.in_ is not None:
        return any(_same(value, option) for option in condition.in_), inputs
    if condition.unknown is not None:
        return False, inputs
    if not _is_number(value):
        return None, {}  # a numeric comparison on a non-number answer is not evaluable
    assert isinstance(value, (int, float))
    if condition.gte is not None:
        return value >= condition.gte, inputs
    if condition.gt is not None:
        return value > condition.gt, inputs
    if condition.lte is not None:
        return value <= condition.lte, inputs
    assert condition.lt is not None
    return value < condition.lt, inputs


def _merge(parts: Iterable[dict[str, object]]) -> dict[str, object]:
    merged: dict[str, object] = {}
    for part in parts:
        merged.update(part)
    return merged


def _draft(rule: Rule, fired: Mapping[str, object]) -> AlertDraft:
    return AlertDraft(
        rule_id=rule.id,
        severity=rule.severity,
        title=rule.title,
        source=rule.source,
        fired=dict(fired),
        advice=rule.patient_advice,
        repeat=rule.repeat,
    )


def _most_severe_first(drafts: list[AlertDraft]) -> list[AlertDraft]:
    return sorted(drafts, key=lambda draft: _RANK[draft.severity])  # stable: file order within a severity


def _free_text(answers: Mapping[str, object]) -> str | None:
    text = answers.get(FREE_TEXT_ITEM)
    if isinstance(text, str) and _usable(text) and text.strip():
        return text
    return None


def evaluate_answers(
    rules: RuleSet,
    questionnaire_id: str,
    answers: Mapping[str, object],
    context: RuleContext,
) -> list[AlertDraft]:
    """Alerts raised by one submitted questionnaire, urgent first (file order within a severity).

    Event rules do not fire here, except `free_text`: a non-empty `message_team` answer *is* that event, so it is
    raised here and the caller must not report it again with `evaluate_event`.
    """
    drafts: list[AlertDraft] = []
    for rule in rules:
        condition = rule.condition
        if isinstance(condition, EventCondition):
            if condition.event == "free_text":
                text = _free_text(answers)
                if text is not None:
                    drafts.append(_draft(rule, {FREE_TEXT_ITEM: text}))
            continue
        if rule.questionnaires is not None and questionnaire_id not in rule.questionnaires:
            continue
        reference = context.references.get(rule.id) if rule.compare_with == "last_acknowledged" else None
        rule_context = context if reference is None else _against(context, reference)
        truth, inputs = _evaluate(condition, questionnaire_id, answers, rule_context)
        if truth is True:
            if reference is not None:
                inputs = {**inputs, "compared_with_alert": reference.alert_id}
            drafts.append(_draft(rule, inputs))
    fired = {draft.rule_id for draft in drafts}
    superseded = {rule.id for rule in rules if fired.intersection(rule.superseded_by)}
    return _most_severe_first([draft for draft in drafts if draft.rule_id not in superseded])


def _against(context: RuleContext, reference: Reference) -> RuleContext:
    """The context with the acknowledged state in place of the baseline (a value not recorded keeps the baseline)."""
    pain = reference.pain_worst if _is_number(reference.pain_worst) else context.baseline_pain_worst
    omed = reference.omed if _is_number(reference.omed) else context.baseline_omed
    return replace(context, baseline_pain_worst=pain, baseline_omed=omed)  # type: ignore[arg-type]  # _is_number() narrowed these at run time; mypy cannot see it through the helper


def evaluate_event(rules: RuleSet, event: str, *, details: Mapping[str, object] | None = None) -> list[AlertDraft]:
    """Alerts raised by an event (missed questionnaire, day-30 closing, message, unacknowledged urgent alert).

    `details` (e.g. `{"questionnaire_id": "followup", "day": 30}`) is copied into each draft's `fired`, after
    `{"event": event}`. An event name not in `EVENTS` is a programming error (ValueError).
    """
    if event not in EVENTS:
        raise ValueError(f"unknown event {event!r}; expected one of {', '.join(EVENTS)}")
    fired: dict[str, object] = {"event": event, **(details or {})}
    drafts = [
        _draft(rule, fired)
        for rule in rules
        if isinstance(rule.condition, EventCondition) and rule.condition.event == event
    ]
    return _most_severe_first(drafts)


def advice_for(drafts: Iterable[AlertDraft]) -> Advice | None:
    """The most pressing advice among `drafts` (`ADVICE_ORDER`), or None when none tells the patient anything."""
    given = {draft.advice for draft in drafts if draft.advice is not None}
    return next((advice for advice in ADVICE_ORDER if advice in given), None)


def highest_severity(drafts: Iterable[AlertDraft]) -> Severity | None:
    """The most severe level among `drafts` (what the patient is told), or None when there is nothing."""
    ranks = [_RANK[draft.severity] for draft in drafts]
    return SEVERITY_ORDER[min(ranks)] if ranks else None
