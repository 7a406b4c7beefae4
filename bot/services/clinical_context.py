"""What the escalation rules and the clinicians need from a patient's history: baseline, OMED, trend."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime

from bot.domain import engine
from bot.domain.models import Instance
from bot.domain.omed import Regimen, compute_omed, regimen_from_answers
from bot.domain.questionnaire import Value
from bot.domain.regimen_change import changed_recently
from bot.domain.rules import PainPoint, RuleContext
from bot.services.container import Services
from bot.services.history_cache import PriorHistory, PriorHistoryCache
from bot.storage import instances, team_regimens
from bot.storage.patient_history import PatientHistory, patient_history
from bot.storage.store import Tx
from bot.storage.team_regimens import TeamRegimen

__all__ = [
    "PriorHistory",
    "PriorHistoryCache",
    "TREND_LENGTH",
    "answered_history",
    "answered_from",
    "shown_answers",
    "regimens",
    "reference_time",
    "apply_team",
    "next_previous",
    "omed_mg",
    "prior_history",
    "with_current",
    "rule_context",
    "worst_pain_trend",
    "regimen_changed_recently",
]

TREND_LENGTH = 5  # last worst-pain scores shown to clinicians (docs/clinical/red-flags.md: "a short trend")


async def answered_history(tx: Tx, patient_id: int) -> list[tuple[Instance, dict[str, Value]]]:
    """Instances with at least one answer, oldest first, with their current answers and their context items
    (`team_regimens.context_for`; one round trip)."""
    return answered_from(await patient_history(tx, patient_id))


def answered_from(history: PatientHistory) -> list[tuple[Instance, dict[str, Value]]]:
    """`answered_history` from a history read already (`bot.storage.patient_history`)."""
    by_instance, team = history.answers, history.team
    return [
        (inst, {**team_regimens.context_for(inst.id, team), **by_instance[inst.id]})
        for inst in history.instances
        if inst.status in ("open", "completed", "missed") and by_instance.get(inst.id)
    ]


def shown_answers(services: Services, instance: Instance, answers: dict[str, Value]) -> dict[str, Value]:
    """Only the answers to items still shown (an earlier correction may have hidden some)."""
    questionnaire = services.questionnaires.get(instance.questionnaire_id)
    return engine.effective_answers(questionnaire, answers) if questionnaire else answers


def regimens(
    history: Sequence[tuple[Instance, dict[str, Value]]], team: Sequence[TeamRegimen] = ()
) -> dict[int, Regimen]:
    """Each instance's analgesic regimen, carrying the previous one forward when unchanged.

    Give it shown answers only (`shown_answers`): a hidden item's old answer must not count.
    "Same as last time" refers to the last *complete* regimen (`Regimen.complete`): a partial or missed
    questionnaire gets its own (unknown) regimen, but does not pass its unknowns on to the ones after it.
    A regimen recorded by a clinician (`team`, /traitement) is complete: it becomes what "same as last time" (and
    the patient's confirmation, `team_regimen_ok`) refers to for every questionnaire sent after it was recorded,
    until the patient reports another.
    """
    result: dict[int, Regimen] = {}
    previous: Regimen | None = None
    pending = sorted(team, key=lambda entry: (entry.recorded_at, entry.id))
    for inst, answers in history:
        if pending:
            previous, pending = apply_team(previous, pending, inst)
        regimen = regimen_from_answers(answers, previous)
        result[inst.id] = regimen
        previous = next_previous(previous, regimen)
    return result


def reference_time(instance: Instance) -> datetime:
    """When a questionnaire's "last time" is fixed: when it was sent (else when it opens)."""
    return instance.sent_at or instance.opens_at


def apply_team(
    previous: Regimen | None,
    pending: Sequence[TeamRegimen],
    instance: Instance,
) -> tuple[Regimen | None, list[TeamRegimen]]:
    """The clinicians' entries recorded before `instance` was sent (or shown in it for confirmation) replace
    `previous`, the newest winning; the rest stay pending. Strictly before: an entry made in the same second as
    a questionnaire was sent belongs to the next one, unless it was shown in this one."""
    rest = list(pending)
    shown = [i for i, entry in enumerate(rest) if entry.shown_instance_id == instance.id]
    last = max(shown, default=-1)
    before = reference_time(instance)
    index = 0
    while index < len(rest) and (index <= last or rest[index].recorded_at < before):
        previous = rest[index].regimen
        index += 1
    return previous, rest[index:]


def next_previous(previous: Regimen | None, regimen: Regimen) -> Regimen | None:
    """What "same as last time" refers to after `regimen`: it when complete, else the one before."""
    return regimen if regimen.complete else previous


def omed_mg(services: Services, regimen: Regimen) -> float | None:
    return compute_omed(regimen, services.opioids).mg


async def prior_history(
    tx: Tx, services: Services, instance: Instance, version: tuple[int, int, int] | None = None
) -> PriorHistory:
    """The history before `instance`, from the cache when no answer was added elsewhere since (one query, none if
    the caller read `instances.history_version` already in this transaction: `version`)."""
    if version is None:
        version = await instances.history_version(tx, instance.patient_id, instance.id)
    cached = services.prior_histories.get(instance.id, version)
    if cached is not None:
        return cached
    read = await patient_history(tx, instance.patient_id)
    entries = tuple(
        (inst, shown_answers(services, inst, given)) for inst, given in answered_from(read) if inst.id != instance.id
    )
    team = tuple(read.team)
    history = PriorHistory(version=version, entries=entries, regimens=regimens(list(entries), team), team=team)
    services.prior_histories.put(instance.id, history)
    return history


def regimen_changed_recently(prior: PriorHistory, instance: Instance) -> bool:
    """Did the treatment change in the days before `instance` was sent (`bot.domain.regimen_change`, issue 32)?
    Read from the history the rules already cache: no query of its own."""
    return changed_recently(
        reference_time(instance),
        ((reference_time(inst), answers) for inst, answers in prior.entries),
        (entry.recorded_at for entry in prior.team),
    )


def with_current(
    services: Services, prior: PriorHistory, instance: Instance, answers: dict[str, Value]
) -> tuple[list[tuple[Instance, dict[str, Value]]], dict[int, Regimen]]:
    """The whole answered history in time order, `instance` with `answers` included, and every regimen."""
    current = (instance, shown_answers(services, instance, answers))
    if prior.precedes(instance):
        previous: Regimen | None = None
        pending: list[TeamRegimen] = sorted(prior.team, key=lambda entry: (entry.recorded_at, entry.id))
        for inst, _ in prior.entries:
            previous, pending = apply_team(previous, pending, inst)
            previous = next_previous(previous, prior.regimens[inst.id])
        previous, pending = apply_team(previous, pending, instance)
        regs = {**prior.regimens, instance.id: regimen_from_answers(current[1], previous)}
        return [*prior.entries, current], regs
    ordered = sorted([*prior.entries, current], key=lambda entry: (entry[0].opens_at, entry[0].id))
    return ordered, regimens(ordered, prior.team)


def rule_context(
    services: Services,
    ordered: list[tuple[Instance, dict[str, Value]]],
    regs: dict[int, Regimen],
    instance: Instance,
    *,
    finished: bool,
) -> RuleContext:
    """Baseline pain and OMED, and the current OMED once the analgesic answers are complete (`with_current`)."""
    baseline = next(((i, a) for i, a in ordered if i.questionnaire_id == "baseline"), None)
    baseline_pain = baseline[1].get("pain_worst") if baseline else None
    baseline_omed = omed_mg(services, regs[baseline[0].id]) if baseline else None
    current_omed = omed_mg(services, regs[instance.id]) if finished else None
    on_chemo = bool(baseline and baseline[1].get("on_chemo") == "yes")
    return RuleContext(
        baseline_pain_worst=baseline_pain if isinstance(baseline_pain, int) else None,
        baseline_omed=baseline_omed,
        current_omed=current_omed,
        on_chemo=on_chemo,
        has_baseline=isinstance(baseline_pain, int),
        on_fentanyl_patch=_wears_fentanyl_patch(services, regs.get(instance.id)),
        pain_history=tuple(
            PainPoint(day=_local_day(services, inst.opens_at), pain_worst=pain)
            for inst, given in ordered
            if inst.id != instance.id
            and inst.questionnaire_id != "baseline"
            and isinstance(pain := given.get("pain_worst"), (int, float))
            and not isinstance(pain, bool)
        ),
        today=_local_day(services, instance.opens_at),
    )


def _local_day(services: Services, moment: datetime) -> date:
    """The day a questionnaire is for, in the trial's time zone (pain persistence counts days, issue 32)."""
    return moment.astimezone(services.settings.timezone).date() if moment.tzinfo else moment.date()


def _wears_fentanyl_patch(services: Services, regimen: Regimen | None) -> bool:
    """A fentanyl patch among the current background lines (also carried forward): the toxicity advice then says to
    take it off (issue 32)."""
    if regimen is None:
        return False
    for line in regimen.background:
        product = services.opioids.product(line.product) if line.product else None
        if product is not None and product.patch and product.substance == "fentanyl":
            return True
    return False


def worst_pain_trend(history: list[tuple[Instance, dict[str, Value]]]) -> list[list[object]]:
    """The last worst-pain scores as [timepoint, score] pairs, oldest first."""
    points: list[list[object]] = []
    for inst, answers in history:
        score = answers.get("pain_worst")
        if isinstance(score, int):
            points.append([inst.timepoint, score])
    return points[-TREND_LENGTH:]
