"""What the escalation rules and the clinicians need from a patient's history: baseline, OMED, trend."""

from __future__ import annotations

from bot.domain import engine
from bot.domain.models import Instance
from bot.domain.omed import Regimen, compute_omed, regimen_from_answers
from bot.domain.rules import RuleContext
from bot.services.container import Services
from bot.storage import instances
from bot.storage.store import Tx

TREND_LENGTH = 5  # last worst-pain scores shown to clinicians (shared/clinical/red-flags.md: "a short trend")


async def answered_history(tx: Tx, patient_id: int) -> list[tuple[Instance, dict[str, object]]]:
    """Instances with at least one answer, oldest first, with their current answers (two queries in all)."""
    by_instance = await instances.current_answers_for_patient(tx, patient_id)
    return [
        (inst, by_instance[inst.id])
        for inst in await instances.instances_for(tx, patient_id)
        if inst.status in ("open", "completed", "missed") and by_instance.get(inst.id)
    ]


def shown_answers(services: Services, instance: Instance, answers: dict[str, object]) -> dict[str, object]:
    """Only the answers to items still shown (an earlier correction may have hidden some)."""
    questionnaire = services.questionnaires.get(instance.questionnaire_id)
    return engine.effective_answers(questionnaire, answers) if questionnaire else answers


def regimens(history: list[tuple[Instance, dict[str, object]]]) -> dict[int, Regimen]:
    """Each instance's analgesic regimen, carrying the previous one forward when unchanged.

    Give it shown answers only (`shown_answers`): a hidden item's old answer must not count.
    """
    result: dict[int, Regimen] = {}
    previous: Regimen | None = None
    for inst, answers in history:
        previous = regimen_from_answers(answers, previous)
        result[inst.id] = previous
    return result


def omed_mg(services: Services, regimen: Regimen) -> float | None:
    return compute_omed(regimen, services.opioids).mg


def rule_context(
    services: Services, history: list[tuple[Instance, dict[str, object]]], instance: Instance,
    answers: dict[str, object], *, finished: bool,
) -> RuleContext:
    """Baseline pain and OMED, and the current OMED once the analgesic answers are complete."""
    ordered = [(inst, answers if inst.id == instance.id else given) for inst, given in history]
    if instance.id not in {inst.id for inst, _ in history}:
        ordered.append((instance, answers))
    ordered = [(inst, shown_answers(services, inst, given)) for inst, given in ordered]
    regs = regimens(ordered)
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
    )


def worst_pain_trend(history: list[tuple[Instance, dict[str, object]]]) -> list[list[object]]:
    """The last worst-pain scores as [timepoint, score] pairs, oldest first."""
    points: list[list[object]] = []
    for inst, answers in history:
        score = answers.get("pain_worst")
        if isinstance(score, int):
            points.append([inst.timepoint, score])
    return points[-TREND_LENGTH:]
