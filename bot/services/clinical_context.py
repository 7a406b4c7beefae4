"""What the escalation rules and the clinicians need from a patient's history: baseline, OMED, trend."""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from bot.domain import engine
from bot.domain.models import Instance
from bot.domain.omed import Regimen, compute_omed, regimen_from_answers
from bot.domain.rules import RuleContext
from bot.services.container import Services
from bot.storage import instances, team_regimens
from bot.storage.store import Tx
from bot.storage.team_regimens import TeamRegimen

TREND_LENGTH = 5  # last worst-pain scores shown to clinicians (docs/clinical/red-flags.md: "a short trend")


async def answered_history(tx: Tx, patient_id: int) -> list[tuple[Instance, dict[str, object]]]:
    """Instances with at least one answer, oldest first, with their current answers and their context items
    (`team_regimens.context_for`; three queries in all)."""
    by_instance = await instances.current_answers_for_patient(tx, patient_id)
    team = await team_regimens.for_patient(tx, patient_id)
    return [
        (inst, {**team_regimens.context_for(inst.id, team), **by_instance[inst.id]})
        for inst in await instances.instances_for(tx, patient_id)
        if inst.status in ("open", "completed", "missed") and by_instance.get(inst.id)
    ]


def shown_answers(services: Services, instance: Instance, answers: dict[str, object]) -> dict[str, object]:
    """Only the answers to items still shown (an earlier correction may have hidden some)."""
    questionnaire = services.questionnaires.get(instance.questionnaire_id)
    return engine.effective_answers(questionnaire, answers) if questionnaire else answers


def regimens(history: Sequence[tuple[Instance, dict[str, object]]],
             team: Sequence[TeamRegimen] = ()) -> dict[int, Regimen]:
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


def apply_team(previous: Regimen | None, pending: Sequence[TeamRegimen], instance: Instance,
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


@dataclass(frozen=True)
class PriorHistory:
    """A patient's answered questionnaires other than the one being answered: shown answers and regimens.

    It cannot change while that questionnaire is being answered — answers go to the open questionnaire only, and an
    answered questionnaire keeps its place (`opens_at`) and stays in the history whatever its status becomes — so
    it is built once per questionnaire and reused for each answer (`prior_history`). `version` (count and newest id
    of those answers) proves it is still current; it is read from the database on every use.
    """

    version: tuple[int, int, int]
    entries: tuple[tuple[Instance, dict[str, object]], ...]
    regimens: dict[int, Regimen]
    team: tuple[TeamRegimen, ...] = ()

    def precedes(self, instance: Instance) -> bool:
        """Is every earlier questionnaire before `instance` in time (the usual case: it is the latest)?"""
        return all((inst.opens_at, inst.id) < (instance.opens_at, instance.id) for inst, _ in self.entries)


class PriorHistoryCache:
    """The `PriorHistory` of the questionnaires being answered now, newest used kept (a derived, bounded cache:
    losing it in a restart costs one reload)."""

    def __init__(self, size: int = 512) -> None:
        self._size = size
        self._entries: OrderedDict[int, PriorHistory] = OrderedDict()

    def get(self, instance_id: int, version: tuple[int, int, int]) -> PriorHistory | None:
        found = self._entries.get(instance_id)
        if found is None or found.version != version:
            return None
        self._entries.move_to_end(instance_id)
        return found

    def put(self, instance_id: int, history: PriorHistory) -> None:
        self._entries[instance_id] = history
        self._entries.move_to_end(instance_id)
        while len(self._entries) > self._size:
            self._entries.popitem(last=False)


async def prior_history(tx: Tx, services: Services, instance: Instance) -> PriorHistory:
    """The history before `instance`, from the cache when no answer was added elsewhere since (one query)."""
    row = await tx.fetchone(
        "SELECT COUNT(*) AS n, COALESCE(MAX(a.id), 0) AS newest, (SELECT COALESCE(MAX(c.id), 0) FROM"
        " clinician_regimens c WHERE c.patient_id = ?) AS team FROM answers a JOIN instances i ON i.id = a.instance_id"
        " WHERE i.patient_id = ? AND i.id != ?",
        (instance.patient_id, instance.patient_id, instance.id),
    )
    version = (int(row["n"]), int(row["newest"]), int(row["team"])) if row is not None else (0, 0, 0)
    cached = services.prior_histories.get(instance.id, version)
    if cached is not None:
        return cached
    entries = tuple(
        (inst, shown_answers(services, inst, given))
        for inst, given in await answered_history(tx, instance.patient_id)
        if inst.id != instance.id
    )
    team = tuple(await team_regimens.for_patient(tx, instance.patient_id))
    history = PriorHistory(version=version, entries=entries, regimens=regimens(list(entries), team), team=team)
    services.prior_histories.put(instance.id, history)
    return history


def with_current(
    services: Services, prior: PriorHistory, instance: Instance, answers: dict[str, object]
) -> tuple[list[tuple[Instance, dict[str, object]]], dict[int, Regimen]]:
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
    services: Services, ordered: list[tuple[Instance, dict[str, object]]], regs: dict[int, Regimen],
    instance: Instance, *, finished: bool,
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
    )


def worst_pain_trend(history: list[tuple[Instance, dict[str, object]]]) -> list[list[object]]:
    """The last worst-pain scores as [timepoint, score] pairs, oldest first."""
    points: list[list[object]] = []
    for inst, answers in history:
        score = answers.get("pain_worst")
        if isinstance(score, int):
            points.append([inst.timepoint, score])
    return points[-TREND_LENGTH:]
