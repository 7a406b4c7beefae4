"""Caregivers (issue 36): a relative, on their own Telegram account, who may answer for a patient too tired to.

Lifecycle: a clinician invites (`/aidant <study_id>` or `python -m bot caregiver-invite`): a one-time link, at most
`CAREGIVER_LIMIT` caregivers per patient at a time. The caregiver opens it (joined), reads their own information and
consents (active: the consent text is kept with its time). The patient is told and can end the role (`/fin_aidant`);
the team can too (`/fin_aidant <study_id>` in the group); the caregiver can leave (/stop); the patient's withdrawal
ends it. An ended caregiver gets nothing more. Everything is audited.

Answering: the caregiver asks for the open questionnaire (/repondre) or is offered it when the patient has not
started it within the delay of its kind (`questionnaires/caregivers.yaml`). The same engine and storage as the
patient's own answers (`answering.store_answer`), labelled with the caregiver; the first to answer holds the
questionnaire, so two people never answer the same one.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Literal

from bot.clock import Clock
from bot.domain.enrolment import INVITATION_VALIDITY_DAYS
from bot.domain.models import Instance, Patient
from bot.domain.prompt import Prompt
from bot.domain.questionnaire import Value
from bot.i18n import _
from bot.services import answering
from bot.services.answering import Submission
from bot.services.container import Services
from bot.storage import audit, instances, joining, patients
from bot.storage import caregivers as repo
from bot.storage.caregivers import CAREGIVER_LIMIT, Caregiver
from bot.storage.inbox import settle_current_update
from bot.storage.store import Store, Tx

__all__ = [
    "CODE_PREFIX",
    "caregiver_information_text",
    "caregiver_instruction",
    "CaregiverError",
    "CaregiverInvitation",
    "caregiver_prompt",
    "consent",
    "current",
    "end",
    "end_all",
    "invite",
    "open_prompt",
    "redeem",
    "submit",
]

CODE_PREFIX = "aidant_"
"""A caregiver's invitation code starts with this (Telegram start parameters allow letters, digits, _ and -), so
/start tells a caregiver's link from a patient's without a lookup."""

LIVE_PATIENT = ("invited", "joined", "active", "paused", "unreachable")
"""Patient statuses for which a caregiver may be invited or keep their role."""


def caregiver_instruction() -> str:
    """The line above the questions a caregiver answers: whose answers these are."""
    return _("Answer as your relative would answer, about how they feel, not about how you see it.")


def caregiver_information_text() -> str:
    """What the caregiver reads before joining; kept, as shown, with the time of their consent."""
    return _(
        "Welcome. Your relative takes part in a follow-up by their radiotherapy care team, with short "
        "questionnaires. They asked that you may help them.\n\n"
        "What you may do: when your relative is too tired to answer, answer their questionnaire for them "
        "(send /repondre), and write to the care team.\n"
        "Your answers are always labelled as given by a caregiver, for the team and for the study.\n"
        "Your relative, or the care team, can end your role at any time; you can too, with /stop.\n\n"
        "Important: this service is not watched around the clock and it is not an emergency service. In an "
        "emergency, call 15 (SAMU) or 112; deaf or hard of hearing: SMS to 114."
    )


class CaregiverError(ValueError):
    """A refused caregiver command, with a French message for the team."""


@dataclass(frozen=True)
class CaregiverInvitation:
    study_id: str
    number: int
    code: str
    expires_at: datetime


async def invite(store: Store, clock: Clock, study_id: str, *, actor: str) -> CaregiverInvitation:
    """Create a one-time caregiver invitation for the patient (at most `CAREGIVER_LIMIT` live caregivers)."""
    now = clock.now()
    code = CODE_PREFIX + secrets.token_urlsafe(16)
    expires_at = now + timedelta(days=INVITATION_VALIDITY_DAYS)
    async with store.transaction() as tx:
        patient = await patients.find_by_study_id(tx, study_id)
        if patient is None:
            raise CaregiverError(_("Unknown study id: {study_id}.").format(study_id=study_id))
        if patient.status not in LIVE_PATIENT:
            raise CaregiverError(
                _("{study_id} no longer takes part in the follow-up: no caregiver can be invited.").format(
                    study_id=study_id
                )
            )
        if await repo.live_count(tx, patient.id, now) >= CAREGIVER_LIMIT:
            raise CaregiverError(
                _("{study_id} already has {limit} caregivers: end one first (/fin_aidant {study_id} <number>).").format(
                    study_id=study_id, limit=CAREGIVER_LIMIT
                )
            )
        number = await repo.next_number(tx, patient.id)
        caregiver_id = await repo.create_invitation(
            tx, patient_id=patient.id, number=number, code=code, now=now, expires_at=expires_at
        )
        await audit.record(
            tx,
            at=now,
            actor=actor,
            action="caregiver_invite",
            patient_id=patient.id,
            entity="caregiver",
            entity_id=caregiver_id,
            new_value={"number": number},
        )
        await tx.commit()
    return CaregiverInvitation(study_id, number, code, expires_at)


RedeemKind = Literal["joined", "refused", "rate_limited", "is_patient", "busy"]


async def redeem(
    services: Services, *, code: str, telegram_user_id: int, chat_id: int, telegram_date: datetime | None
) -> tuple[RedeemKind, Caregiver | None]:
    """Bind a caregiver invitation to the first Telegram account that opens it.

    Refused: a patient's own account (a caregiver answers from their own phone), an account already caregiver of
    someone, an unknown, used or expired code (counted by the same rate limit as the patients' /start).
    """
    from bot.services.enrolment import START_ATTEMPT_WINDOW, START_ATTEMPTS_PER_WINDOW
    from bot.storage.inbox import current_update_id

    now = services.clock.now()
    async with services.store.transaction() as tx:
        if await patients.find_by_telegram_user(tx, telegram_user_id) is not None:
            return "is_patient", None
        existing = await repo.find_by_user(tx, telegram_user_id)
        if existing is not None and existing.status != "ended":
            return "busy", existing
        if (
            await joining.refused_starts_since(tx, telegram_user_id, now - START_ATTEMPT_WINDOW)
            >= START_ATTEMPTS_PER_WINDOW
        ):
            return "rate_limited", None
        caregiver = await repo.find_by_code(tx, code)
        patient = await patients.get_patient(tx, caregiver.patient_id) if caregiver else None
        if (
            caregiver is None
            or patient is None
            or caregiver.status != "invited"
            or caregiver.expires_at <= now
            or patient.status not in LIVE_PATIENT
        ):
            update_id = current_update_id()
            if await joining.record_refused_start(
                tx, telegram_user_id=telegram_user_id, update_id=update_id, reason="caregiver_code", now=now
            ):
                await audit.record(
                    tx,
                    at=now,
                    actor=f"stranger:{telegram_user_id}",
                    action="start_refused",
                    telegram_date=telegram_date,
                    details={"reason": "caregiver_code"},
                )
                await tx.commit()
            return "refused", None
        await repo.link(tx, caregiver.id, telegram_user_id=telegram_user_id, chat_id=chat_id, now=now)
        await audit.record(
            tx,
            at=now,
            actor=_actor(patient, caregiver),
            action="caregiver_join",
            patient_id=patient.id,
            entity="caregiver",
            entity_id=caregiver.id,
            telegram_date=telegram_date,
        )
        await tx.commit()
    return "joined", replace(caregiver, status="joined", telegram_user_id=telegram_user_id, chat_id=chat_id)


def _actor(patient: Patient, caregiver: Caregiver) -> str:
    """How the audit trail names a caregiver: the patient's study id and the caregiver's number, never Telegram's."""
    return f"caregiver:{patient.study_id}#{caregiver.number}"


async def current(services: Services, telegram_user_id: int) -> tuple[Caregiver | None, Patient | None]:
    """The caregiver role of this Telegram account (live, else the last ended one) and their patient."""
    async with services.store.read() as tx:
        caregiver = await repo.find_by_user(tx, telegram_user_id)
        if caregiver is None:
            return None, None
        return caregiver, await patients.get_patient(tx, caregiver.patient_id)


@dataclass(frozen=True)
class Consented:
    caregiver: Caregiver
    patient: Patient
    patient_chat_id: int | None
    """Where to tell the patient a caregiver joined (None: not linked, or no longer written to)."""


async def consent(services: Services, telegram_user_id: int) -> Consented | None:
    """The caregiver consented: the text shown is kept with the time; None when nothing awaited it."""
    now = services.clock.now()
    async with services.store.transaction() as tx:
        caregiver = await repo.find_by_user(tx, telegram_user_id)
        if caregiver is None or caregiver.status != "joined":
            return None
        patient = await patients.get_patient(tx, caregiver.patient_id)
        if patient is None or patient.status not in LIVE_PATIENT:
            return None
        if not await repo.consent(tx, caregiver.id, text=caregiver_information_text(), now=now):
            return None
        await audit.record(
            tx,
            at=now,
            actor=_actor(patient, caregiver),
            action="caregiver_consent",
            patient_id=patient.id,
            entity="caregiver",
            entity_id=caregiver.id,
        )
        link = await patients.get_link(tx, patient.id)
        await settle_current_update(tx, now)
        await tx.commit()
    told = link.chat_id if link is not None and patient.status in ("joined", "active", "paused") else None
    return Consented(replace(caregiver, status="active", consented_at=now), patient, told)


EndedBy = Literal["patient", "team", "caregiver", "withdrawal"]


async def end_all(tx: Tx, patient: Patient, *, by: EndedBy, actor: str, now: datetime) -> list[Caregiver]:
    """Inside `tx`: end every live caregiver role of the patient (audited); return those ended."""
    ended = []
    for caregiver in await repo.for_patient(tx, patient.id):
        if await repo.end(tx, caregiver.id, by=by, now=now):
            await _audit_end(tx, patient, caregiver, by, actor, now)
            ended.append(caregiver)
    return ended


async def _audit_end(tx: Tx, patient: Patient, caregiver: Caregiver, by: str, actor: str, now: datetime) -> None:
    await audit.record(
        tx,
        at=now,
        actor=actor,
        action="caregiver_end",
        patient_id=patient.id,
        entity="caregiver",
        entity_id=caregiver.id,
        details={"by": by, "number": caregiver.number},
    )


async def end(
    services: Services,
    *,
    by: EndedBy,
    actor: str,
    patient: Patient | None = None,
    study_id: str | None = None,
    number: int | None = None,
    caregiver_user_id: int | None = None,
) -> tuple[Patient | None, list[Caregiver]]:
    """End caregiver roles: all of a patient's (or the one numbered `number`), or the caregiver's own (/stop).
    Returns the patient and the roles ended (their chats are told by the caller)."""
    now = services.clock.now()
    async with services.store.transaction() as tx:
        if caregiver_user_id is not None:
            own = await repo.find_by_user(tx, caregiver_user_id)
            if own is None or own.status == "ended":
                return None, []
            patient = await patients.get_patient(tx, own.patient_id)
            chosen = [own]
        else:
            if patient is None and study_id is not None:
                patient = await patients.find_by_study_id(tx, study_id)
            if patient is None:
                return None, []
            chosen = [c for c in await repo.for_patient(tx, patient.id) if number is None or c.number == number]
        assert patient is not None
        ended = []
        for caregiver in chosen:
            if await repo.end(tx, caregiver.id, by=by, now=now):
                await _audit_end(
                    tx, patient, caregiver, by, actor if by != "caregiver" else _actor(patient, caregiver), now
                )
                ended.append(caregiver)
        await settle_current_update(tx, now)
        await tx.commit()
    return patient, ended


def caregiver_prompt(prompt: Prompt) -> Prompt:
    """The question as the caregiver reads it: the item's caregiver wording (`text_proxy`) where the questionnaire
    has one, and always the instruction to answer as the patient would."""
    from bot.domain.team_regimen import TEAM_PLACEHOLDER

    item = prompt.item
    base = item.text_proxy if item.text_proxy and TEAM_PLACEHOLDER not in item.text else (prompt.text or item.text)
    return replace(prompt, text=f"{base}\n\n{caregiver_instruction()}")


OpenProblem = Literal["inactive", "nothing", "held_by_patient", "held_by_other"]


async def open_prompt(services: Services, caregiver: Caregiver) -> tuple[OpenProblem | None, Prompt | None]:
    """/repondre: the patient's open questionnaire for this caregiver, unless someone else started it."""
    async with services.store.read() as tx:
        fresh = await repo.get(tx, caregiver.id)
        patient = await patients.get_patient(tx, caregiver.patient_id)
        if fresh is None or fresh.status != "active" or patient is None or patient.status != "active":
            return "inactive", None
        instance = await instances.open_instance_for(tx, patient.id)
        if instance is None or instance.status != "open":
            return "nothing", None
        problem = _held_problem(instance, fresh)
        if problem is not None:
            return problem, None
        prompt = await answering.prompt_for(tx, services, instance)
    return (None, caregiver_prompt(prompt)) if prompt is not None else ("nothing", None)


def _held_problem(instance: Instance, caregiver: Caregiver) -> OpenProblem | None:
    if instance.held_by is None or instance.held_by == caregiver.holder:
        return None
    return "held_by_patient" if instance.held_by == "patient" else "held_by_other"


async def _context(
    tx: Tx, services: Services, telegram_user_id: int, instance_id: int | None
) -> tuple[Caregiver | None, Patient | None, Instance | None, answering.SubmissionStatus | None]:
    caregiver = await repo.find_by_user(tx, telegram_user_id)
    if caregiver is None or caregiver.status != "active":
        return caregiver, None, None, "not_patient"
    patient = await patients.get_patient(tx, caregiver.patient_id)
    if patient is None or patient.status != "active":
        return caregiver, patient, None, "inactive"
    instance = await instances.open_instance_for(tx, patient.id)
    if instance is None or instance.status != "open" or (instance_id is not None and instance.id != instance_id):
        return caregiver, patient, None, "stale"
    if _held_problem(instance, caregiver) is not None:
        return caregiver, patient, None, "held"
    return caregiver, patient, instance, None


async def submit(
    services: Services,
    *,
    telegram_user_id: int,
    instance_id: int | None,
    item_index: int | None,
    value_for: Callable[[Prompt], Value],
    answered_at: datetime | None,
) -> Submission:
    """Store one answer from the caregiver, labelled as theirs (`answering.store_answer`)."""
    now = services.clock.now()
    async with services.store.transaction() as tx:
        caregiver, patient, instance, problem = await _context(tx, services, telegram_user_id, instance_id)
        if problem is not None or caregiver is None or patient is None or instance is None:
            return Submission(problem or "stale", patient=patient)
        submission = await answering.store_answer(
            tx,
            services,
            patient,
            instance,
            item_index=item_index,
            value_for=value_for,
            answered_at=answered_at,
            now=now,
            actor=_actor(patient, caregiver),
            source="patient",
            caregiver=caregiver,
        )
    if submission.prompt is not None:
        submission = replace(submission, prompt=caregiver_prompt(submission.prompt))
    if submission.answered is not None:
        submission = replace(submission, answered=caregiver_prompt(submission.answered))
    return submission


async def toggle(
    services: Services, *, telegram_user_id: int, instance_id: int, item_index: int, code: str
) -> Prompt | None:
    """A tick on a multiple-choice item by the caregiver (the questionnaire must not be held by someone else)."""
    async with services.store.transaction() as tx:
        _caregiver, _patient, instance, problem = await _context(tx, services, telegram_user_id, instance_id)
        if problem is not None or instance is None:
            return None
        prompt = await answering.toggle_in(tx, services, instance, item_index=item_index, code=code)
        if prompt is None:
            return None
        await settle_current_update(tx, services.clock.now())
        await tx.commit()
    return caregiver_prompt(prompt)


async def offer_due(services: Services) -> list[tuple[int, Prompt, Caregiver]]:
    """The open questionnaires the patient has not started within the delay of their kind (`caregivers.yaml`),
    offered once to each active caregiver: (chat id, the first question, caregiver). Recorded in the same
    transaction, so an offer is made once even across replicas and restarts."""
    from bot.services.caregiver_policy import offer_delay

    now = services.clock.now()
    offers: list[tuple[int, Prompt, Caregiver]] = []
    async with services.store.transaction() as tx:
        for instance in await repo.offer_candidates(tx):
            delay = offer_delay(services, instance)
            if delay is None or instance.sent_at is None or now < instance.sent_at + delay.after_sent:
                continue
            if delay.after_reminders is not None and instance.reminders_sent < delay.after_reminders:
                continue
            if not await repo.record_offer(tx, instance.id, now):
                continue
            prompt = await answering.prompt_for(tx, services, instance)
            if prompt is None:
                continue
            for caregiver in await repo.for_patient(tx, instance.patient_id):
                if caregiver.status == "active" and caregiver.chat_id is not None:
                    offers.append((caregiver.chat_id, caregiver_prompt(prompt), caregiver))
            await audit.record(
                tx,
                at=now,
                actor="system",
                action="caregiver_offer",
                patient_id=instance.patient_id,
                entity="instance",
                entity_id=instance.id,
            )
        await tx.commit()
    return offers


async def go_back(services: Services, *, telegram_user_id: int, instance_id: int, item_index: int) -> Prompt | None:
    """ "Change my previous answer" for the caregiver, as `answering.go_back` for the patient."""
    from bot.domain import engine

    async with services.store.transaction() as tx:
        _caregiver, _patient, instance, problem = await _context(tx, services, telegram_user_id, instance_id)
        if problem is not None or instance is None:
            return None
        answers = await answering.with_recent_change(
            tx, services, instance, await instances.answers_with_context(tx, instance.id)
        )
        prompt = await answering.prompt_for(tx, services, instance, answers)
        if prompt is None or prompt.item_index != item_index or not prompt.can_go_back:
            return None
        visible = {i.id for i in engine.visible_items(prompt.questionnaire, answers)}
        order = [i for i in await instances.answer_order(tx, instance.id) if i in visible]
        await instances.set_correcting(tx, instance.id, order[-1])
        await instances.set_selection(tx, instance.id, None)
        refreshed = await instances.get_instance(tx, instance.id)
        assert refreshed is not None
        new_prompt = await answering.prompt_for(tx, services, refreshed)
        await settle_current_update(tx, services.clock.now())
        await tx.commit()
    return caregiver_prompt(new_prompt) if new_prompt is not None else None


async def find_live(services: Services, telegram_user_id: int) -> Caregiver | None:
    """One statement, on every private update (the router): the caregiver role of this account, if any."""
    async with services.store.read_one() as tx:
        return await repo.find_by_user(tx, telegram_user_id)


async def team_summary(services: Services, patient: Patient) -> str | None:
    """The line /patient shows about caregivers (issue 36), or None when the patient never had one."""
    async with services.store.read() as tx:
        every = await repo.for_patient(tx, patient.id, live_only=False)
        answered = await repo.completed_by_caregivers(tx, patient.id)
    if not every:
        return None
    tz = services.settings.timezone
    live = [
        _("caregiver {number} (active since {day})").format(
            number=c.number, day=c.consented_at.astimezone(tz).strftime("%d/%m/%Y")
        )
        if c.status == "active" and c.consented_at is not None
        else _("caregiver {number} (not yet joined)").format(number=c.number)
        for c in every
        if c.status != "ended"
    ]
    return _("Caregivers: {live}; questionnaires answered by a caregiver: {answered}").format(
        live=", ".join(live) if live else _("none now"), answered=answered
    )
