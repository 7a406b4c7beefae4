"""Asking the current question and storing an answer: the core use case of the bot.

One transaction per answer: the answer row, its audit entry, any alert it raises (outbox) and the completion of
the questionnaire are committed together, and only then does the bot acknowledge the press to the patient.
Every press or typed answer is checked against the stored state (the questionnaire is open, the patient active, the
item is the one being asked), so a double tap, a stale button or a forged one changes nothing.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Literal

from bot.domain import engine
from bot.domain import news as news_policy
from bot.domain.free_text_screen import screen_free_text
from bot.domain.models import Instance, Patient
from bot.domain.prompt import Prompt  # re-exported: callers may still name bot.services.answering.Prompt
from bot.domain.questionnaire import Item, Questionnaire, Value
from bot.domain.rules import (
    AlertDraft,
    Reference,
    RepeatPolicy,
    Rule,
    advice_for,
    evaluate_answers,
    evaluate_event,
    highest_severity,
)
from bot.services import clinical_context
from bot.services.container import Services
from bot.services.patient_messages import advice_for_flags, severity_for_flags
from bot.storage import alerts, audit, instances, notices, patients
from bot.storage.answer_context import AnswerContext, answer_context
from bot.storage.caregivers import Caregiver, holder_label
from bot.storage.inbox import settle_current_update
from bot.storage.store import Tx

ValueFactory = Callable[[Item], Value]


SubmissionStatus = Literal["stored", "stale", "invalid", "not_patient", "inactive", "held"]
"""`held`: someone else (the patient or a caregiver, issue 36) started this questionnaire and holds it."""


@dataclass(frozen=True)
class Submission:
    status: SubmissionStatus
    message: str | None = None
    item: Item | None = None
    value: Value | None = None
    answered_message_id: int | None = None
    prompt: Prompt | None = None
    finished: bool = False
    summary: list[str] = field(default_factory=list)
    alerts: list[AlertDraft] = field(default_factory=list)
    patient: Patient | None = None
    answered: Prompt | None = None
    notice_id: int | None = None  # advice owed to the patient now (bot.delivery.patient_notices)


def _current_item(
    q: Questionnaire, answers: dict[str, Value], correcting: str | None, walk: engine.Walk
) -> Item | None:
    if correcting is not None:
        for item in q.items:
            if item.id == correcting:
                return item
    return walk.next_item(answers)


def _index_of(q: Questionnaire, item: Item) -> int:
    """The item's position by id: `list.index` would compare pydantic models field by field (issue #18: about 4 %
    of the event loop's time under the pace load)."""
    for index, candidate in enumerate(q.items):
        if candidate.id == item.id:
            return index
    raise ValueError(f'item "{item.id}" is not in questionnaire "{q.id}"')


async def prompt_for(
    tx: Tx, services: Services, instance: Instance, answers: dict[str, Value] | None = None
) -> Prompt | None:
    """The current question of an open instance, or None if it is finished (`answers`: already loaded)."""
    q = services.questionnaires[instance.questionnaire_id]
    if answers is None:
        answers = await instances.answers_with_context(tx, instance.id)
    answers = await with_recent_change(tx, services, instance, answers)
    walk = engine.walk(q, answers)  # once: the next item, its position and "can go back" all read it
    item = _current_item(q, answers, instance.correcting_item, walk)
    if item is None:
        return None
    position, total = walk.progress(item)
    answered_visible = [i for i in walk.visible if i.id in answers and i.id != item.id]
    return Prompt(
        instance=instance,
        questionnaire=q,
        item=item,
        item_index=_index_of(q, item),
        position=position,
        total=total,
        selection=instance.selection or (),
        can_go_back=bool(answered_visible) and instance.correcting_item is None,
        correcting=instance.correcting_item is not None,
        text=await _filled_text(tx, services, instance, item),
    )


async def with_recent_change(
    tx: Tx,
    services: Services,
    instance: Instance,
    answers: dict[str, Value],
    version: tuple[int, int, int] | None = None,
) -> dict[str, Value]:
    """`answers` with the context items the bot supplies from the history, when the questionnaire has them:
    `regimen_changed_recently` ("yes"/"no"): did the treatment change in the days before it was sent (issue 32;
    `bot.domain.regimen_change`)? `chemo_possible` ("yes"/"no"): may the patient be on chemotherapy, from the
    baseline (issue 35; `bot.domain.chemo_context`)? `primary_timepoint` ("yes"/"no"): is this the primary
    follow-up (day 30), where the follow-up asks its day-30 items (issue 35)? Read from the cached prior history
    (`clinical_context.prior_history`: one small query when `version` is not given, none if cached and given); the
    answers are returned as they are when the items are absent or already supplied."""
    from bot.domain.chemo_context import CHEMO_CONTEXT_ITEM, PRIMARY_CONTEXT_ITEM, chemo_possible
    from bot.domain.regimen_change import RECENT_CHANGE_ITEM

    q = services.questionnaires.get(instance.questionnaire_id)
    if q is None:
        return answers
    if PRIMARY_CONTEXT_ITEM in q.item_ids and PRIMARY_CONTEXT_ITEM not in answers:
        answers = {PRIMARY_CONTEXT_ITEM: "yes" if instance.is_primary else "no", **answers}
    wanted = [item for item in (RECENT_CHANGE_ITEM, CHEMO_CONTEXT_ITEM) if item in q.item_ids and item not in answers]
    if not wanted:
        return answers
    prior = await clinical_context.prior_history(tx, services, instance, version)
    facts: dict[str, Value] = {}
    if RECENT_CHANGE_ITEM in wanted:
        facts[RECENT_CHANGE_ITEM] = "yes" if clinical_context.regimen_changed_recently(prior, instance) else "no"
    if CHEMO_CONTEXT_ITEM in wanted:
        baseline = next((given for inst, given in prior.entries if inst.questionnaire_id == "baseline"), None)
        facts[CHEMO_CONTEXT_ITEM] = "yes" if chemo_possible(baseline) else "no"
    return {**facts, **answers}


async def _filled_text(tx: Tx, services: Services, instance: Instance, item: Item) -> str:
    """The question with the regimen the team recorded in place of `{team_regimen}` (issue 17), or ""."""
    from bot.domain.team_regimen import TEAM_PLACEHOLDER, describe_regimen
    from bot.storage import team_regimens

    if TEAM_PLACEHOLDER not in item.text:
        return ""
    entry = await team_regimens.latest_shown_in(tx, instance.id)
    described = describe_regimen(entry.regimen, services.opioids) if entry is not None else "—"
    return item.text.replace(TEAM_PLACEHOLDER, described)


async def active_context(
    tx: Tx, services: Services, telegram_user_id: int, instance_id: int | None
) -> tuple[Patient | None, Instance | None, SubmissionStatus | None, AnswerContext]:
    """`_active_context` for the services that store an answer their own way (issue 37: a confirmed box photo)."""
    return await _active_context(tx, services, telegram_user_id, instance_id)


async def _active_context(
    tx: Tx, services: Services, telegram_user_id: int, instance_id: int | None
) -> tuple[Patient | None, Instance | None, SubmissionStatus | None, AnswerContext]:
    """The patient, their open questionnaire (or the problem), its answers so far and what the rules compare with,
    read in one round trip."""
    reference_rules, ordered_rules = _reference_rule_ids(services)
    found = await answer_context(tx, telegram_user_id, reference_rules=reference_rules, ordered_rules=ordered_rules)
    patient, instance = found.patient, found.instance
    if patient is None:
        return None, None, "not_patient", found
    if patient.status not in ("active", "paused"):
        return patient, None, "inactive", found
    if instance is None or (instance_id is not None and instance.id != instance_id) or instance.status != "open":
        return patient, None, "stale", found
    return patient, instance, None, found


async def submit(
    services: Services,
    *,
    telegram_user_id: int,
    instance_id: int | None,
    item_index: int | None,
    make_value: ValueFactory,
    answered_at: datetime | None,
) -> Submission:
    """Validate and store one answer; return what to tell the patient next."""
    return await _submit(
        services,
        telegram_user_id=telegram_user_id,
        instance_id=instance_id,
        item_index=item_index,
        value_for=lambda prompt: make_value(prompt.item),
        answered_at=answered_at,
    )


async def submit_selection(
    services: Services, *, telegram_user_id: int, instance_id: int, item_index: int
) -> Submission:
    """ "Valider" on a multiple-choice item: store the options ticked so far.

    The ticks are read *inside the submitting transaction* (the store's lock serialises it with every toggle):
    read in an earlier transaction, a tick committed in between (two taps handled concurrently) would be shown as
    ticked, then cleared by the submit and missing from the answer. Now a tick either lands before the submit and
    is in the answer, or after it and is refused as stale.
    """
    return await _submit(
        services,
        telegram_user_id=telegram_user_id,
        instance_id=instance_id,
        item_index=item_index,
        answered_at=None,
        value_for=lambda prompt: engine.answer_from_selection(prompt.item, set(prompt.selection)),
    )


async def _submit(
    services: Services,
    *,
    telegram_user_id: int,
    instance_id: int | None,
    item_index: int | None,
    value_for: Callable[[Prompt], Value],
    answered_at: datetime | None,
) -> Submission:
    now = services.clock.now()
    async with services.store.transaction() as tx:
        patient, instance, problem, found = await _active_context(tx, services, telegram_user_id, instance_id)
        if problem is not None or instance is None or patient is None:
            return Submission(problem or "stale", patient=patient)
        return await store_answer(
            tx,
            services,
            patient,
            instance,
            item_index=item_index,
            value_for=value_for,
            answered_at=answered_at,
            now=now,
            actor=f"patient:{patient.study_id}",
            source="patient",
            found=found,
        )


async def store_answer(
    tx: Tx,
    services: Services,
    patient: Patient,
    instance: Instance,
    *,
    item_index: int | None,
    value_for: Callable[[Prompt], Value],
    answered_at: datetime | None,
    now: datetime,
    actor: str,
    source: str,
    found: AnswerContext | None = None,
    before_commit: Callable[[Tx, Prompt], None] | None = None,
    caregiver: Caregiver | None = None,
) -> Submission:
    """Store one answer to `instance` inside `tx` and commit: the row, its audit entry, alerts, completion.

    `source` "patient" (their chat; the advice they are owed is queued) or "phone" (a research nurse entering it
    from the clinicians' group, /saisie: stamped on the row and in the audit, and no advice is queued for the
    patient's chat, since the nurse is talking to them; the clinicians' alerts are raised as usual).
    `found`: what `answer_context` read for this instance in this transaction, if the caller read it (else read here).
    `before_commit`: writes that belong with the answer (issue 37: the box photo's scan that gave it), deferred in
    the same transaction after the answer row.
    `caregiver`: the answer is the caregiver's (issue 36): labelled so on the row, the audit entry and the alerts,
    and the advice goes to the caregiver's chat. In a chat, the first to answer holds the questionnaire: anyone else
    is refused ("held"), so two people never answer the same one.
    """
    holder = holder_label(caregiver.id if caregiver is not None else None)
    if source == "patient" and instance.held_by is not None and instance.held_by != holder:
        return Submission("held", patient=patient)
    labelled = {} if caregiver is None else {"respondent": "caregiver", "caregiver": caregiver.number}
    answers = found.answers if found is not None else await instances.answers_with_context(tx, instance.id)
    answers = await with_recent_change(
        tx, services, instance, answers, found.history_version if found is not None else None
    )
    prompt = await prompt_for(tx, services, instance, answers)
    if prompt is None or (item_index is not None and prompt.item_index != item_index):
        return Submission("stale", patient=patient)
    try:
        value = value_for(prompt)
    except engine.InvalidAnswer as exc:
        return Submission("invalid", message=str(exc), item=prompt.item, patient=patient, prompt=prompt)
    old = answers.get(prompt.item.id)
    correcting = prompt.correcting
    await instances.add_answer(
        tx,
        instance_id=instance.id,
        item_id=prompt.item.id,
        value=value,
        answered_at=answered_at or now,
        received_at=now,
        is_correction=correcting,
        source=source,
        caregiver_id=caregiver.id if caregiver is not None else None,
    )
    if source == "patient" and instance.held_by is None:
        await instances.set_held_by(tx, instance.id, holder)
    await audit.record(
        tx,
        at=now,
        actor=actor,
        action="correct" if correcting else "answer",
        patient_id=patient.id,
        entity="answer",
        entity_id=f"{instance.id}/{prompt.item.id}",
        old_value=old if correcting else None,
        new_value=value,
        telegram_date=answered_at,
        details=({} if source == "patient" else {"source": source}) | labelled or None,
    )
    if correcting:
        await instances.set_correcting(tx, instance.id, None)
    if instance.selection is not None:
        await instances.set_selection(tx, instance.id, None)
    refreshed = replace(instance, correcting_item=None, selection=None)
    answers = {**answers, prompt.item.id: value}
    next_prompt = await prompt_for(tx, services, refreshed, answers)
    finished = next_prompt is None
    drafts = await _raise_alerts(
        tx,
        services,
        patient,
        refreshed,
        answers,
        finished=finished,
        now=now,
        typed_text=value if prompt.item.type == "text" and isinstance(value, str) else None,
        typed_item=prompt.item.id,
        found=found,
        labelled=labelled,
    )
    severity = highest_severity(drafts)  # what the patient is told now, stored with the answer
    advice = advice_for(drafts)
    notice_id = (
        None
        if severity is None or advice is None or source != "patient"
        else await notices.owe_notice(
            tx,
            patient_id=patient.id,
            instance_id=instance.id,
            severity=severity,
            now=now,
            advice=advice,
            caregiver_id=caregiver.id if caregiver is not None else None,
        )
    )
    summary: list[str] = []
    if finished:
        await instances.set_status(tx, instance.id, "completed", now)
        from bot.services.omed_stamps import stamp_completed  # issue 17: the OMED with the versions deriving it

        await stamp_completed(
            tx, services, refreshed, answers, now, found.history_version if found is not None else None
        )
        await audit.record(
            tx,
            at=now,
            actor=actor,
            action="complete",
            patient_id=patient.id,
            entity="instance",
            entity_id=instance.id,
            details=({} if source == "patient" else {"source": source}) | labelled or None,
        )
        summary = engine.summary_lines(services.questionnaires[instance.questionnaire_id], answers)
    if before_commit is not None:
        before_commit(tx, prompt)
    await settle_current_update(tx, now)  # the answer and "this update is handled": one commit
    await tx.commit()
    return Submission(
        "stored",
        item=prompt.item,
        value=value,
        answered_message_id=instance.question_message_id,
        prompt=next_prompt,
        finished=finished,
        summary=summary,
        alerts=drafts,
        patient=patient,
        answered=prompt,
        notice_id=notice_id,
    )


async def _raise_alerts(
    tx: Tx,
    services: Services,
    patient: Patient,
    instance: Instance,
    answers: dict[str, Value],
    *,
    finished: bool,
    now: datetime,
    typed_text: str | None = None,
    typed_item: str | None = None,
    found: AnswerContext | None = None,
    labelled: dict[str, object] | None = None,
) -> list[AlertDraft]:
    """Evaluate the escalation rules on the answers so far; queue each rule at most once per instance.

    A text just typed (`typed_text`, e.g. the message to the team) goes through the red-flag screen: what a patient
    writes in a questionnaire is as urgent as what they write outside one. A rule with a `repeat` policy that
    alerted recently for the same news is not raised again; the firing is recorded in the audit trail.
    `found`: what `answer_context` read for this instance in this transaction (no read of its own then).
    """
    prior = await clinical_context.prior_history(
        tx, services, instance, found.history_version if found is not None else None
    )
    history, regimens = clinical_context.with_current(services, prior, instance, answers)
    context = clinical_context.rule_context(services, history, regimens, instance, finished=finished)
    if services.legacy_alerting:
        references: dict[str, Reference] = {}
    elif found is not None:
        references = _references_from(found.acknowledged, found.ordered)
    else:
        references = await _references(tx, services, patient)
    drafts = evaluate_answers(
        services.rules, instance.questionnaire_id, answers, replace(context, references=references)
    )
    news = {draft.rule_id for draft in drafts}
    # What fires against the baseline but not against the acknowledged state: the same news, kept as suppressed.
    # (No reference acknowledged: nothing can be stale, and the rules are not evaluated a second time.)
    stale = (
        [
            draft
            for draft in evaluate_answers(services.rules, instance.questionnaire_id, answers, context)
            if draft.rule_id in references and draft.rule_id not in news
        ]
        if references
        else []
    )
    if typed_text and typed_item:
        flags = screen_free_text(typed_text, services.free_text_vocabulary)
        if flags:
            drafts = [
                replace(
                    draft,
                    fired={typed_item: typed_text, "flags": [flag.label for flag in flags]},
                    advice=advice_for_flags(flags),
                    severity=severity_for_flags(flags),
                )
                for draft in evaluate_event(services.rules, "free_text_red_flag")
            ] + drafts
    if not drafts and not stale:
        return []
    already = set(found.already_fired) if found is not None else await alerts.rules_already_fired(tx, instance.id)
    for draft in stale:
        if draft.rule_id not in already:
            await _suppress(tx, patient, instance, draft, references[draft.rule_id].alert_id, "acknowledged", now)
    free_text_rules = services.rules.event_rule_ids("free_text")
    fresh: list[AlertDraft] = []
    for draft in drafts:
        if draft.rule_id in already:
            continue
        if draft.rule_id in free_text_rules and not finished:  # the message is read once the patient is done
            continue
        rule = services.rules.get(draft.rule_id)
        if rule.expected_after is not None and not services.legacy_alerting:
            ordering = await _ordered_by_team(tx, patient, rule, draft, now)
            if ordering is not None:  # the rise the team itself ordered: expected, and the new reference
                await _suppress(tx, patient, instance, draft, ordering, "ordered", now)
                continue
        family = news_policy.family_of(draft.rule_id)
        if family is not None and draft.severity != "urgent" and not services.legacy_alerting:
            folded = await _same_news(tx, services, patient, instance, family, answers, draft.fired, now)
            if folded is not None:  # the same news as what the team was told (issue 33): kept, in the digest
                verdict, told = folded
                await _suppress(tx, patient, instance, draft, told.alert_id if told else None, verdict, now)
                continue
        repeated = await _repeated_alert(tx, patient, draft, now) if draft.repeat is not None else None
        if repeated is not None:
            await _suppress(tx, patient, instance, draft, repeated[0], repeated[1], now)
            continue
        if draft.severity != "urgent" and not rule.is_event and not services.legacy_alerting:
            open_alert = await alerts.open_alert_of_rule(tx, patient.id, draft.rule_id)
            if (
                open_alert is not None
                and not _worse(rule.worse_key, draft.fired, open_alert.current_fired)
                and not _persisted(draft.repeat, open_alert, now)
            ):
                await alerts.record_occurrence(tx, open_alert.id, fired=draft.fired, now=now)
                await _suppress(tx, patient, instance, draft, open_alert.id, "open", now)
                continue
        trend = clinical_context.worst_pain_trend(history)
        await alerts.insert_alert(
            tx,
            patient_id=patient.id,
            instance_id=instance.id,
            rule_id=draft.rule_id,
            severity=draft.severity,
            payload={
                "title": draft.title,
                "source": draft.source,
                "fired": draft.fired,
                "trend": trend,
                "shown": _answer_lines(services.questionnaires[instance.questionnaire_id], draft.fired),
                "questionnaire": instance.questionnaire_id,
                "timepoint": instance.timepoint,
                **(labelled or {}),  # "réponse de l'aidant" (issue 36)
            },
            # Information waits for the digest, except the patient's own message, which reaches the team at once.
            now=now,
            send_now=draft.severity != "info" or draft.rule_id in free_text_rules,
        )
        fresh.append(draft)
    return fresh


async def _references(tx: Tx, services: Services, patient: Patient) -> dict[str, Reference]:
    """The state at the last acknowledged alert of each `compare_with: last_acknowledged` rule (issue 15).

    For a rule with `expected_after`, a later rise the team ordered (suppressed as "ordered") is the newer state:
    the dose the patient reported after the team's change is what later reports are compared with.
    """
    reference_rules, ordered_rules = _reference_rule_ids(services)
    acknowledged = await alerts.last_acknowledged_of_rules(tx, patient.id, reference_rules)
    ordered = await alerts.last_suppressed_of_rules(tx, patient.id, ordered_rules, reason="ordered")
    return _references_from(acknowledged, ordered)


def _reference_rule_ids(services: Services) -> tuple[list[str], list[str]]:
    """The `compare_with: last_acknowledged` rules, and those of them with `expected_after` (none in the legacy
    mode, which compares with the baseline only)."""
    if services.legacy_alerting:
        return [], []
    rules = [rule for rule in services.rules if rule.compare_with == "last_acknowledged"]
    return [rule.id for rule in rules], [rule.id for rule in rules if rule.expected_after is not None]


def _references_from(
    acknowledged: dict[str, alerts.AlertRow], ordered: dict[str, alerts.SuppressedRow]
) -> dict[str, Reference]:
    """`_references` from its reads: each rule's last acknowledged alert, and the newest "ordered" firing of the
    rules with `expected_after` (the only ones it was read for, `_reference_rule_ids`)."""
    references: dict[str, Reference] = {}
    for rule_id, alert in acknowledged.items():
        references[rule_id] = _reference(alert.id, alert.current_fired)
    for rule_id, newest in ordered.items():
        acked = acknowledged.get(rule_id)
        if acked is None or acked.acknowledged_at is None or newest.created_at >= acked.acknowledged_at:
            references[rule_id] = _reference(newest.previous_alert_id or 0, newest.fired)
    return references


def _reference(alert_id: int, fired: dict[str, object]) -> Reference:
    pain, omed = fired.get("pain_worst"), fired.get("current_omed")
    return Reference(
        alert_id=alert_id,
        pain_worst=pain if isinstance(pain, (int, float)) and not isinstance(pain, bool) else None,
        omed=float(omed) if isinstance(omed, (int, float)) and not isinstance(omed, bool) else None,
    )


async def _ordered_by_team(tx: Tx, patient: Patient, rule: Rule, draft: AlertDraft, now: datetime) -> int | None:
    """The alert whose recorded follow-up says the team made this change (`rule.expected_after`), or None.

    An analgesic increase is the team's own order, not news, when: the current action recorded on one of the
    patient's alerts is `expected_after.action` ("analgesics changed"), recorded within `within_days`; this is
    the first firing of the rule since that action (alerted or not); and the new OMED is at most `up_to` times the
    one compared with (a larger rise than any single titration step still alerts). Anything else alerts as usual.
    """
    expected = rule.expected_after
    assert expected is not None
    action = await alerts.latest_current_action(tx, patient.id, expected.action)
    if action is None or action.recorded_at < now - timedelta(days=expected.within_days):
        return None
    if await alerts.rule_fired_since(tx, patient.id, rule.id, action.recorded_at):
        return None  # the change has already been reported once: a further rise is news
    before, current = _number(draft.fired.get("baseline_omed")), _number(draft.fired.get("current_omed"))
    if before is None or current is None or before <= 0 or current > expected.up_to * before:
        return None
    return action.alert_id


async def _suppress(
    tx: Tx,
    patient: Patient,
    instance: Instance,
    draft: AlertDraft,
    previous: int | None,
    reason: alerts.SuppressionReason,
    now: datetime,
) -> None:
    """A firing that does not alert: kept (suppressed_alerts) and audited, never silently dropped."""
    await alerts.record_suppressed(
        tx,
        patient_id=patient.id,
        instance_id=instance.id,
        rule_id=draft.rule_id,
        fired=draft.fired,
        previous_alert_id=previous,
        now=now,
        reason=reason,
    )
    await audit.record(
        tx,
        at=now,
        actor="system",
        action="alert_suppressed",
        patient_id=patient.id,
        entity="rule",
        entity_id=draft.rule_id,
        new_value=draft.fired,
        details={"instance": instance.id, "reason": reason, "previous_alert": previous},
    )


async def _same_news(
    tx: Tx,
    services: Services,
    patient: Patient,
    instance: Instance,
    family: news_policy.Family,
    answers: dict[str, Value],
    fired: dict[str, object],
    now: datetime,
) -> tuple[alerts.SuppressionReason, news_policy.Told | None] | None:
    """Why this firing of `family` is not news (`inclusion`, `known`) and what the team was told, or None (news).

    Reads the facts `news_policy.decide` needs: the last time the team was told (the family's newest alert, or the
    baseline answer folded at inclusion), whether a questionnaire completed since then was free of the finding
    (the episode ended), and the worst pain then and now.
    """
    baseline = instance.questionnaire_id == "baseline"
    told: news_policy.Told | None = None
    told_instance: int | None = None
    open_told: alerts.AlertRow | None = None
    episode_ended = False
    if not baseline:
        alert = await alerts.last_alert_of_rules(tx, patient.id, family.rules)
        known = (
            await alerts.last_suppressed_of_reason(tx, patient.id, family.rules, "inclusion")
            if family.known_at_inclusion
            else None
        )
        if alert is not None and (known is None or alert.created_at >= known.created_at):
            told, told_instance = news_policy.Told(alert.created_at, alert.id, None), alert.instance_id
            open_told = alert if alert.acknowledged_at is None else None
        elif known is not None:
            told, told_instance = news_policy.Told(known.created_at, None, None), known.instance_id
        if told is not None:
            if told_instance is not None:
                then = await instances.current_answers(tx, told_instance)
                told = replace(told, pain=_number(then.get("pain_worst")))
            # Only a questionnaire that asks what the rules read can end the episode: the baseline's second part
            # (issue 35) asks no night pain, so it says nothing about whether that pain went away.
            scope: set[str] = set()
            for rule_id in family.rules:
                rule = services.rules.get(rule_id)
                read = rule.answer_items()
                candidates = rule.questionnaires or tuple(services.questionnaires)
                scope.update(
                    qid
                    for qid in candidates
                    if qid in services.questionnaires
                    and (not read or any(item.id in read for item in services.questionnaires[qid].items))
                )
            episode_ended = bool(scope) and await alerts.completed_without_rules(
                tx,
                patient.id,
                family.rules,
                after=told.at,
                after_instance=told_instance,
                questionnaires=sorted(scope),
                apart_from={i for i in (instance.id, told_instance) if i is not None},
            )
    verdict = news_policy.decide(
        family,
        baseline=baseline,
        told=told,
        episode_ended=episode_ended,
        pain_now=_number(answers.get("pain_worst")),
        now=now,
    )
    if verdict == "news":
        return None
    reason: alerts.SuppressionReason = "inclusion" if verdict == "inclusion" else "known"
    if open_told is not None:  # still open: "N times, last …" in the digest, like a repeat of an open alert
        await alerts.record_occurrence(tx, open_told.id, fired=fired, now=now)
    return reason, told


def _number(value: object) -> float | None:
    """A score as a number: answers are numbers, side-effect codes numeric text ("0".."3")."""
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            return None
    return None


def _worse(key: str | None, current: dict[str, object], before: dict[str, object]) -> bool:
    """Is this occurrence worse news than the open alert's last one (`key` higher)? No key: never worse."""
    if key is None:
        return False
    now_value, then_value = _number(current.get(key)), _number(before.get(key))
    if now_value is None or then_value is None:
        return False
    return now_value > then_value


async def _repeated_alert(
    tx: Tx, patient: Patient, draft: AlertDraft, now: datetime
) -> tuple[int, alerts.SuppressionReason] | None:
    """The alert this firing repeats, and why: same rule, same patient, within the repeat window ("repeat") or the
    same episode ("episode", `repeat.until_below`), with a value no higher than then.

    None when it is news (first time, window passed, episode ended, or a higher value than then).
    """
    policy = draft.repeat
    assert policy is not None
    last = await alerts.last_alert_of_rule(tx, patient.id, draft.rule_id)
    if last is None:
        return None
    reason: alerts.SuppressionReason = "repeat"
    if policy.until_below is not None:
        assert policy.unless_higher is not None
        if await _episode_ended(tx, patient, last, policy.unless_higher, policy.until_below):
            return None
        if _persisted(policy, last, now):
            return None  # the same pain, N days on: news again (issue 32)
        reason = "episode"
    elif policy.within_days is not None and last.created_at < now - timedelta(days=policy.within_days):
        return None
    key = policy.unless_higher
    if key is None:
        return last.id, reason
    before, current = _number(last.current_fired.get(key)), _number(draft.fired.get(key))
    if before is None or current is None:
        return None
    return (last.id, reason) if current <= before else None


#: Patients do not answer at the same hour every day: "N days after the alert" counts from half a day before.
_ANSWER_HOUR_SLACK = timedelta(hours=12)


def _persisted(policy: RepeatPolicy | None, last: alerts.AlertRow, now: datetime) -> bool:
    """Has the episode lasted `repeat.again_after_days` since `last` was raised? Then it alerts again (issue 32: a
    severe pain that persists is not silent for ever, whether or not the first alert was taken care of)."""
    if policy is None or policy.again_after_days is None:
        return False
    return last.created_at <= now - timedelta(days=policy.again_after_days) + _ANSWER_HOUR_SLACK


async def _episode_ended(tx: Tx, patient: Patient, last: alerts.AlertRow, item: str, below: float) -> bool:
    """Since `last` was raised, was `item` answered below `below` in a completed questionnaire (not its own)?

    Read from the database (current answers, corrections included), not from the cached history: what counts is
    every questionnaire completed since the alert, whatever was being answered when the history was cached.
    """
    for instance_id, completed_at, given in await instances.completed_item_answers(tx, patient.id, item):
        if instance_id == last.instance_id:
            continue
        after = completed_at > last.created_at or (  # at the same instant: opened after the alert's own
            completed_at == last.created_at and last.instance_id is not None and instance_id > last.instance_id
        )
        value = _number(given)
        if after and value is not None and value < below:
            return True
    return False


def _answer_lines(questionnaire: Questionnaire, fired: dict[str, object]) -> dict[str, str]:
    """The answers that fired a rule as the clinicians read them ("Faiblesse, chute (nouveau) : Oui"), by item id.

    Rendered when the alert is raised, from the questionnaire version answered, and stored with it.
    """
    lines: dict[str, str] = {}
    for item_id, value in fired.items():
        line = engine.answer_line(questionnaire, item_id, value)  # type: ignore[arg-type]  # fired maps item ids to stored answer values (JSON), the engine's Value
        if line is not None:
            lines[item_id] = line
    return lines


async def toggle_selection(
    services: Services, *, telegram_user_id: int, instance_id: int, item_index: int, code: str
) -> tuple[SubmissionStatus | None, Prompt | None]:
    """Toggle one choice of a multiple-choice item (stored, so a restart keeps the ticks)."""
    async with services.store.transaction() as tx:
        patient, instance, problem, found = await _active_context(tx, services, telegram_user_id, instance_id)
        if problem is not None or instance is None:
            return problem or "stale", None
        answers = await with_recent_change(tx, services, instance, found.answers, found.history_version)
        new_prompt = await toggle_in(tx, services, instance, item_index=item_index, code=code, answers=answers)
        if new_prompt is None:
            return "stale", None
        await settle_current_update(tx, services.clock.now())
        await tx.commit()
    return None, new_prompt


async def toggle_in(
    tx: Tx,
    services: Services,
    instance: Instance,
    *,
    item_index: int,
    code: str,
    answers: dict[str, Value] | None = None,
) -> Prompt | None:
    """Inside `tx`: toggle `code` on the multiple-choice item being asked; the refreshed prompt, or None if stale.

    Shared by the patient's own ticks and a nurse's phone entry; the caller commits (`answers`: read already)."""
    prompt = await prompt_for(tx, services, instance, answers)
    if prompt is None or prompt.item_index != item_index or prompt.item.type != "multi":
        return None
    if code not in prompt.item.codes:
        return None
    selection = set(instance.selection or ())
    selection.symmetric_difference_update({code})
    await instances.set_selection(tx, instance.id, sorted(selection))
    refreshed = await instances.get_instance(tx, instance.id)
    assert refreshed is not None
    return await prompt_for(tx, services, refreshed)


async def go_back(
    services: Services, *, telegram_user_id: int, instance_id: int, item_index: int
) -> tuple[SubmissionStatus | None, Prompt | None]:
    """Re-ask the previous answered item ("Modifier ma réponse précédente"); the new answer will supersede it."""
    async with services.store.transaction() as tx:
        patient, instance, problem, found = await _active_context(tx, services, telegram_user_id, instance_id)
        if problem is not None or instance is None:
            return problem or "stale", None
        answers = await with_recent_change(tx, services, instance, found.answers, found.history_version)
        prompt = await prompt_for(tx, services, instance, answers)
        if prompt is None or prompt.item_index != item_index or not prompt.can_go_back:
            return "stale", None
        visible = {i.id for i in engine.visible_items(prompt.questionnaire, answers)}
        order = [i for i in await instances.answer_order(tx, instance.id) if i in visible]
        previous = order[-1]
        await instances.set_correcting(tx, instance.id, previous)
        await instances.set_selection(tx, instance.id, None)
        refreshed = await instances.get_instance(tx, instance.id)
        assert refreshed is not None
        new_prompt = await prompt_for(tx, services, refreshed)
        await settle_current_update(tx, services.clock.now())
        await tx.commit()
    return None, new_prompt


async def current_prompt(services: Services, telegram_user_id: int) -> tuple[Patient | None, Prompt | None]:
    """Where this patient is (for /reprendre and any off-topic message)."""
    async with services.store.read() as tx:
        patient = await patients.find_by_telegram_user(tx, telegram_user_id)
        if patient is None:
            return None, None
        instance = await instances.open_instance_for(tx, patient.id)
        if instance is None or instance.status != "open":
            return patient, None
        return patient, await prompt_for(tx, services, instance)


async def remember_question_message(services: Services, instance_id: int, message_id: int) -> None:
    """Store which message shows the current question (to edit it once answered); written together with the other
    questions sent meanwhile (`bot.services.question_messages`)."""
    await services.question_messages.remember(services.store, instance_id, message_id)
