"""What clinicians see of a patient: status, next questionnaire, last worst pain, open alerts, trajectory."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from bot.domain import engine
from bot.domain.models import Patient
from bot.services import clinical_context
from bot.services.container import Services
from bot.storage import alerts, patients
from bot.storage.exports import MessageRow, last_messages
from bot.storage.patient_history import patient_history
from bot.storage.store import Tx

#: Side-effect items (the questionnaires' `se_*` ids, 0-3 scale) and the answers that mean "not at all" or none.
SIDE_EFFECT_PREFIX = "se_"
NOT_AT_ALL = frozenset({"0", "_skip", "_unknown"})
#: Issue 35's gate "Un effet gênant aujourd'hui ?": its "Non" means no bothersome side effect that day (the latest
#: questionnaire then shows none, rather than an older one's), and it is not itself a side effect to list.
SIDE_EFFECT_GATE = "se_screen"
#: How many of the patient's own messages /patient shows (issue 39, item 2): the newest, with date and red flags.
RECENT_MESSAGES = 5


@dataclass(frozen=True)
class TrajectoryPoint:
    study_day: int
    timepoint: str
    worst_pain: int | None
    omed_mg: float | None


@dataclass(frozen=True)
class PatientOverview:
    patient: Patient
    next_due: tuple[str, datetime] | None
    last_worst_pain: int | None
    open_alerts: int
    completed: int
    missed: int
    trajectory: list[TrajectoryPoint]
    #: Side effects reported in the newest questionnaire that asked them, as "label: level", "not at all" left out.
    #: Issue 15: a mild expected side effect is not an alert, so this is where the team sees it.
    side_effects: list[str] = field(default_factory=list)
    #: Findings folded as the same news (issue 33), per rule: (title, how many times, last when), newest last.
    known_findings: list[tuple[str, int, datetime]] = field(default_factory=list)
    #: The patient's last messages outside an answer (`RECENT_MESSAGES`, oldest first), for /patient only.
    recent_messages: list[MessageRow] = field(default_factory=list)


async def overview(tx: Tx, services: Services, patient: Patient, *, with_messages: bool = False) -> PatientOverview:
    read = await patient_history(tx, patient.id)  # instances, answers and the team's regimens: one round trip
    all_instances = read.instances
    upcoming = [i for i in all_instances if i.status in ("planned", "sending", "open")]
    next_due = (upcoming[0].timepoint, upcoming[0].opens_at) if upcoming else None
    history = clinical_context.answered_from(read)
    regimens = clinical_context.regimens(
        [(inst, clinical_context.shown_answers(services, inst, answers)) for inst, answers in history],
        read.team,
    )
    points: list[TrajectoryPoint] = []
    for inst, answers in history:
        pain = answers.get("pain_worst")
        day = inst.study_day if inst.study_day is not None else (inst.opens_at.date() - patient.rt_start).days
        points.append(
            TrajectoryPoint(
                study_day=day,
                timepoint=inst.timepoint,
                worst_pain=pain if isinstance(pain, int) else None,
                omed_mg=clinical_context.omed_mg(services, regimens[inst.id]),
            )
        )
    pains = [p.worst_pain for p in points if p.worst_pain is not None]
    side_effects: list[str] = []
    for inst, answers in reversed(history):
        questionnaire = services.questionnaires.get(inst.questionnaire_id)
        asked = {k: v for k, v in answers.items() if k.startswith(SIDE_EFFECT_PREFIX)}
        if questionnaire is None or not asked:
            continue
        for item_id, value in asked.items():
            if item_id == SIDE_EFFECT_GATE:
                continue
            line = engine.answer_line(questionnaire, item_id, value)
            if line is not None and value not in NOT_AT_ALL:
                side_effects.append(line)
        break
    open_count = len(
        [
            a
            for a in await alerts.alerts_for_patient(tx, patient.id)
            if a.acknowledged_at is None and a.severity != "info"
        ]
    )
    known: dict[str, tuple[str, int, datetime]] = {}
    if with_messages:  # /patient only: the findings the team already knows, still reported (issue 33)
        for row in await alerts.folded_for_patient(tx, patient.id):
            title = services.rules.get(row.rule_id).title if row.rule_id in services.rules.ids else row.rule_id
            count = known[row.rule_id][1] + 1 if row.rule_id in known else 1
            known.pop(row.rule_id, None)
            known[row.rule_id] = (title, count, row.created_at)
    return PatientOverview(
        patient=patient,
        next_due=next_due,
        last_worst_pain=pains[-1] if pains else None,
        open_alerts=open_count,
        completed=len([i for i in all_instances if i.status == "completed"]),
        missed=len([i for i in all_instances if i.status == "missed"]),
        trajectory=points,
        side_effects=side_effects,
        known_findings=list(known.values()),
        recent_messages=await last_messages(tx, patient.id, RECENT_MESSAGES) if with_messages else [],
    )


async def all_overviews(services: Services) -> list[PatientOverview]:
    async with services.store.read() as tx:
        return [await overview(tx, services, p) for p in await patients.list_patients(tx)]


async def one_overview(services: Services, study_id: str) -> PatientOverview | None:
    async with services.store.read() as tx:
        patient = await patients.find_by_study_id(tx, study_id)
        return await overview(tx, services, patient, with_messages=True) if patient else None
