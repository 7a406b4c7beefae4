"""Clinician commands, accepted only from an allowed user inside the clinicians' group.

Every command opens the same way — allowed (else a short refusal) → its arguments → the audit trail — in one place,
`clinician_command`; each handler below does only its own work, from a `ClinicianCall`, as thin as PTB's examples.
"""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import Awaitable, Callable, Coroutine, Sequence
from dataclasses import dataclass
from datetime import date
from typing import TYPE_CHECKING, Any

from telegram import Message, Update

from bot.clock import parse_utc
from bot.domain.enrolment import EnrolmentError, parse_day0, parse_enrolment
from bot.i18n import _
from bot.services import clinician_commands, enrolment
from bot.services.container import Services
from bot.services.status_labels import arm_label, site_label, status_label, timepoint_label
from bot.telegram.context import BotContext

if TYPE_CHECKING:
    from bot.services.overview import PatientOverview
    from bot.storage.exports import MessageRow

log = logging.getLogger(__name__)


def local_today(context: BotContext) -> date:
    """The clock's date where the team works: the reference for the radiotherapy start window."""
    return context.services.clock.now().astimezone(context.services.settings.timezone).date()


def refusal_text() -> str:
    return _("This command is reserved for the care team, in the care team's group.")


async def allowed(update: Update, context: BotContext) -> bool:
    """True for an allowed clinician in the clinicians' group; otherwise reply with a short refusal."""
    user = update.effective_user
    chat = update.effective_chat
    if context.services.is_clinician(user.id if user else None, chat.id if chat else None):
        return True
    if update.effective_message is not None:
        await update.effective_message.reply_text(refusal_text())
    log.info("clinician command refused (update %s)", update.update_id)
    return False


async def record_command(update: Update, context: BotContext, command: str, args: list[str]) -> None:
    """Every clinician command goes into the audit trail (who, what, when)."""
    user = update.effective_user
    message = update.effective_message
    await clinician_commands.record_command(
        context.services,
        user_id=user.id if user else 0,
        command=command,
        args=args,
        telegram_date=message.date if message else None,
    )


@dataclass(frozen=True)
class ClinicianCall:
    """A clinician command that passed the shared opening: who asked, where to answer, with which arguments."""

    update: Update
    context: BotContext
    message: Message
    user_id: int
    args: list[str]

    @property
    def services(self) -> Services:
        return self.context.services

    @property
    def actor(self) -> str:
        """Who the audit trail names."""
        return f"clinician:{self.user_id}"

    async def reply(self, text: str, *, protect_content: bool | None = None) -> None:
        await self.message.reply_text(text, protect_content=protect_content)


ClinicianHandler = Callable[[ClinicianCall], Awaitable[None]]
# A coroutine function, not any awaitable: PTB's handler classes require `Coroutine` in their signatures.
PtbCallback = Callable[[Update, BotContext], Coroutine[Any, Any, None]]


def clinician_command(name: str) -> Callable[[ClinicianHandler], PtbCallback]:
    """The opening every clinician command shares, once: refuse anyone but an allowed clinician in the clinicians'
    group (with a short reply), read the arguments, record the command in the audit trail (who, what, when) — then
    run the handler. `name` is the command as the audit trail records it."""

    def decorate(handler: ClinicianHandler) -> PtbCallback:
        @functools.wraps(handler)
        async def callback(update: Update, context: BotContext) -> None:
            if not await allowed(update, context):
                return
            message, user = update.effective_message, update.effective_user
            if message is None or user is None:  # a command always has both; nothing to answer otherwise
                return
            call = ClinicianCall(update, context, message, user.id, list(context.args or []))
            await record_command(update, context, name, call.args)
            await handler(call)

        return callback

    return decorate


@clinician_command("enroll")
async def enroll(call: ClinicianCall) -> None:
    """/enroll <study_id> <YYYY-MM-DD> [arm=…] [site=…] [fractions=1|5]: create a one-time invitation link."""
    services = call.services
    try:
        request = parse_enrolment(call.args, today=local_today(call.context))
        invitation = await enrolment.enroll(
            services.store,
            services.clock,
            request,
            actor=call.actor,
            known_sites=services.sites.codes,
            default_site=services.sites.enrolment_default,
            sites=services.sites,
        )
    except EnrolmentError as exc:
        await call.reply(str(exc))
        return
    link = f"https://t.me/{call.context.bot.username}?start={invitation.code}"
    expires = invitation.expires_at.astimezone(services.settings.timezone).strftime("%d/%m/%Y")
    text = _(
        "Patient {study_id} enrolled ({site}, {arm}, {fractions} fraction(s), day 0 = {day0}).\n"
        "Give the patient this personal link, valid once until {expires}:\n{link}"
    ).format(
        study_id=request.study_id,
        site=site_label(services.sites, invitation.site),
        arm=arm_label(request.arm),
        fractions=request.fractions,
        day0=request.rt_start.strftime("%d/%m/%Y"),
        expires=expires,
        link=link,
    )
    if late_enrolment_warning_due(call.context, request.rt_start):
        text += "\n\n" + _(
            "Warning: radiotherapy has already started for this patient. The baseline questionnaire will still be "
            "sent, but its answers come after the first fraction: the exports flag them (after_rt_start)."
        )
    await call.reply(text, protect_content=True)


def late_enrolment_warning_due(context: BotContext, rt_start: object) -> bool:
    """True when the patient is enrolled at or after the start of the first fraction (no pre-treatment baseline)."""
    from bot.domain.schedule import rt_start_moment

    services = context.services
    start = rt_start_moment(services.schedule, rt_start, services.settings.timezone)  # type: ignore[arg-type]  # rt_start is typed object in the signature; callers pass a date
    return services.clock.now() >= start


async def acknowledge(update: Update, context: BotContext) -> None:
    """ "Pris en charge": record who and when, and edit the alert message (allowed clinicians only)."""
    from bot.delivery import worker
    from bot.delivery.alert_text import acknowledged_suffix
    from bot.telegram.keyboards import ACK, followup_keyboard

    query = update.callback_query
    assert query is not None
    match = ACK.match(query.data or "")
    chat_id = query.message.chat.id if query.message else None
    if match is None or not context.services.is_clinician(query.from_user.id, chat_id):
        await query.answer(refusal_text(), show_alert=True)
        return
    alert_id = int(match.group(1))
    services = context.services
    now = await clinician_commands.acknowledge_alert(services, alert_id, by=query.from_user.id)
    if now is None:
        await query.answer(_("This alert was already taken care of."))
        return
    await query.answer(_("Recorded: taken care of."))
    when = now.astimezone(services.settings.timezone).strftime("%d/%m/%Y %H:%M")
    # One story (issue 32 item 7): this copy shows the alert itself, without "REMINDER n" or the on-call call, and
    # who took it; the delivery worker updates every other copy the same way (durably, paced with the group).
    shown = await worker.taken_here(
        services,
        alert_id,
        message_id=query.message.message_id if query.message else None,
        name=query.from_user.first_name,
    )
    original = query.message.text if isinstance(query.message, Message) and query.message.text else ""
    text = (shown or original + acknowledged_suffix(query.from_user.first_name, when)) + "\n" + _("What was done?")
    try:  # the closed loop (issue 15): the buttons now ask what was done
        await query.edit_message_text(text, reply_markup=followup_keyboard(alert_id, "action"))
    except Exception as exc:  # the acknowledgement is recorded; a failed edit is cosmetic
        log.info("could not edit the acknowledged alert: %s", type(exc).__name__)


def _local(context: BotContext, moment: object) -> str:
    return moment.astimezone(context.services.settings.timezone).strftime("%d/%m %H:%M")  # type: ignore[attr-defined]  # moment is typed object in the signature; callers pass aware datetimes


async def _patient_arg(call: ClinicianCall, usage: str) -> PatientOverview | None:
    """The patient named by the first argument, or a French error in the chat."""
    from bot.services import overview

    if not call.args:
        await call.reply(usage)
        return None
    found = await overview.one_overview(call.services, call.args[0])
    if found is None:
        await call.reply(_("Unknown study id: {study_id}.").format(study_id=call.args[0]))
    return found


@clinician_command("patients")
async def list_patients(call: ClinicianCall) -> None:
    """/patients: one line per patient — status, next questionnaire, last worst pain, open alerts."""
    from bot.services import overview

    rows = await overview.all_overviews(call.services)
    if not rows:
        await call.reply(_("No patient enrolled yet."))
        return
    lines = [_("Patients ({count}):").format(count=len(rows))]
    for row in rows:
        nxt = f"{timepoint_label(row.next_due[0])} {_local(call.context, row.next_due[1])}" if row.next_due else "—"
        pain = "—" if row.last_worst_pain is None else str(row.last_worst_pain)
        lines.append(
            _(
                "{study_id} ({site}, {arm}): {status}; next: {next}; last worst pain: {pain}; open alerts: {alerts}"
            ).format(
                study_id=row.patient.study_id,
                site=site_label(call.services.sites, row.patient.site_code),
                arm=arm_label(row.patient.arm),
                status=status_label(row.patient.status),
                next=nxt,
                pain=pain,
                alerts=row.open_alerts,
            )
        )
    await _reply_long(call.update, "\n".join(lines))


@clinician_command("patient")
async def show_patient(call: ClinicianCall) -> None:
    """/patient <study_id>: summary and a pain/OMED trajectory plot."""
    from bot.domain.schedule import fraction_days
    from bot.plots import trajectory_png

    row = await _patient_arg(call, _("Usage: /patient <study_id>"))
    if row is None:
        return
    context, update = call.context, call.update
    p = row.patient
    summary = _(
        "{study_id} — {site}, {arm}, {fractions} fraction(s), day 0 = {day0}\n"
        "Status: {status}; questionnaires completed: {completed}, missed: {missed}; open alerts: {alerts}"
    ).format(
        study_id=p.study_id,
        site=site_label(call.services.sites, p.site_code),
        arm=arm_label(p.arm),
        fractions=p.fractions,
        day0=p.rt_start.strftime("%d/%m/%Y"),
        status=status_label(p.status),
        completed=row.completed,
        missed=row.missed,
        alerts=row.open_alerts,
    )
    if row.side_effects:  # a mild one is not an alert (issue 15): here the team sees it
        summary += "\n" + _("Side effects in the last questionnaire: {effects}").format(
            effects="; ".join(row.side_effects)
        )
    from bot.services.caregivers import team_summary  # issue 36: who may answer for the patient

    caregivers_line = await team_summary(call.services, p)
    if caregivers_line:
        summary += "\n" + caregivers_line
    tz = call.services.settings.timezone
    for title, count, last in row.known_findings:  # the same news, not raised again (issue 33): seen here
        summary += "\n" + _("Known, not re-alerted: {title} ({count} time(s), last {when})").format(
            title=title, count=count, when=last.astimezone(tz).strftime("%d/%m")
        )
    messages = _recent_messages(context, row.recent_messages)
    if messages and len(summary) + len(messages) + 1 <= CAPTION_LIMIT:
        summary, messages = f"{summary}\n{messages}", ""
    rt_days = [(d - p.rt_start).days for d in fraction_days(p.rt_start, p.fractions)]
    # In a worker thread: rendering takes tens of milliseconds that every other patient would otherwise wait.
    png = await asyncio.to_thread(
        trajectory_png,
        p.study_id,
        [t.study_day for t in row.trajectory],
        [t.worst_pain for t in row.trajectory],
        [t.omed_mg for t in row.trajectory],
        rt_days=rt_days,
    )
    await context.bot.send_photo(call.message.chat_id, png, caption=summary, protect_content=True)
    if messages:  # too long for the photo's caption: its own message
        await _reply_long(update, messages)


CAPTION_LIMIT = 1024
"""Telegram's limit on a photo caption, in characters (core.telegram.org/bots/api#sendphoto)."""
MESSAGE_EXCERPT = 120
"""Characters of each message /patient shows; the whole text is in the alert it raised and in the exports."""


def _recent_messages(context: BotContext, recent: Sequence[MessageRow]) -> str:
    """The patient's last messages (issue 39, item 2): local date and time, a red-flag mark and what it found,
    the text (cut) or the kind of media."""
    from bot.delivery.alert_text import media_label

    if not recent:
        return ""
    lines = [_("Last messages from the patient:")]
    for m in recent:
        when = _local(context, parse_utc(m.received_at))
        body = (m.text or "").replace("\n", " ").strip()
        if len(body) > MESSAGE_EXCERPT:
            body = body[: MESSAGE_EXCERPT - 1] + "…"
        what = body if m.kind == "text" else f"[{media_label(m.kind)}]" + (f" {body}" if body else "")
        mark = f"🚩 ({', '.join(m.flags)}) " if m.flags else ""
        if m.caregiver is not None:  # issue 36: written by a caregiver, not by the patient
            mark += _("(caregiver {number})").format(number=m.caregiver) + " "
        lines.append(f"• {when} {mark}{what}")
    return "\n".join(lines)


@clinician_command("alerts")
async def list_alerts(call: ClinicianCall) -> None:
    """/alerts: the alerts not yet taken care of."""
    from bot.delivery.digest import open_alert_lines

    lines = await open_alert_lines(call.services)
    await _reply_long(call.update, "\n".join([_("Open alerts:")] + lines) if lines else _("No open alert."))


@clinician_command("appels")
async def call_list(call: ClinicianCall) -> None:
    """/appels: the patients to phone for the day-30 questionnaire (primary end point) before its window closes."""
    from bot.services.call_list import call_list_lines

    await _reply_long(call.update, "\n".join(await call_list_lines(call.services)))


@clinician_command("send")
async def send_now(call: ClinicianCall) -> None:
    """/send <study_id> [questionnaire]: push a questionnaire to the patient now."""
    from bot.scheduling import dispatcher
    from bot.services import participation

    row = await _patient_arg(call, _("Usage: /send <study_id> [questionnaire]"))
    if row is None:
        return
    if row.patient.status == "deceased":  # issue 39, item 4: nothing is sent to a patient recorded as deceased
        await call.reply(_("Cannot send: {study_id} is recorded as deceased.").format(study_id=row.patient.study_id))
        return
    questionnaire = call.args[1] if len(call.args) > 1 else "weekly"
    instance_id = await participation.push_questionnaire(call.services, row.patient, questionnaire, actor=call.actor)
    if instance_id is None:
        await call.reply(
            _("Cannot send: the patient is not active, or the questionnaire is unknown ({known}).").format(
                known=", ".join(sorted(call.services.questionnaires))
            )
        )
        return
    sent = await dispatcher.dispatch_patient(call.services, call.context.messenger, row.patient.id)
    text = (
        _("Questionnaire {questionnaire} sent to {study_id}.")
        if sent == instance_id
        else _(
            "Questionnaire {questionnaire} queued for {study_id}: it follows the one in progress (or waits for 08:00)."
        )
    )
    await call.reply(text.format(questionnaire=questionnaire, study_id=row.patient.study_id))


async def _set_status(call: ClinicianCall, command: str, status: str) -> None:
    from bot.scheduling import dispatcher
    from bot.services import participation

    row = await _patient_arg(call, _("Usage: /{command} <study_id>").format(command=command))
    if row is None:
        return
    outcome = await participation.change_status(call.services, row.patient, status, actor=call.actor)
    if outcome != "done":
        await call.reply(
            _("No change: {study_id} is {status}.").format(
                study_id=row.patient.study_id, status=status_label(row.patient.status)
            )
        )
        return
    await call.reply(
        _("{study_id} is now {status}.").format(study_id=row.patient.study_id, status=status_label(status))
    )
    if status == "active":
        await dispatcher.dispatch_patient(call.services, call.context.messenger, row.patient.id)


@clinician_command("pause")
async def pause_patient(call: ClinicianCall) -> None:
    """/pause <study_id>"""
    await _set_status(call, "pause", "paused")


@clinician_command("reprendre")
async def resume_patient(call: ClinicianCall) -> None:
    """/reprendre <study_id>"""
    await _set_status(call, "reprendre", "active")


@clinician_command("withdraw")
async def withdraw_patient(call: ClinicianCall) -> None:
    """/withdraw <study_id>: final; no message to the patient ever again, data kept."""
    await _set_status(call, "withdraw", "withdrawn")


@clinician_command("day0")
async def change_day0(call: ClinicianCall) -> None:
    """/day0 <study_id> <YYYY-MM-DD>: correct the radiotherapy start; the schedule follows."""
    from bot.services import participation

    row = await _patient_arg(call, _("Usage: /day0 <study_id> <YYYY-MM-DD>"))
    if row is None:
        return
    if len(call.args) < 2:
        await call.reply(_("Usage: /day0 <study_id> <YYYY-MM-DD>"))
        return
    try:
        new_day0 = parse_day0(call.args[1], local_today(call.context))
    except EnrolmentError as exc:
        await call.reply(str(exc))
        return
    count = await participation.change_day0(call.services, row.patient, new_day0, actor=call.actor)
    await call.reply(
        _("Day 0 of {study_id} is now {day0}; {count} questionnaire(s) planned.").format(
            study_id=row.patient.study_id, day0=new_day0.strftime("%d/%m/%Y"), count=count
        )
    )


async def _reply_long(update: Update, text: str) -> None:
    """Telegram caps a message at 4096 UTF-16 units: split on line boundaries (`bot.delivery.splitting`)."""
    from bot.delivery.splitting import split_message

    message = update.effective_message
    assert message is not None
    for chunk in split_message(text):
        await message.reply_text(chunk, protect_content=True)


def _past_date(text: str, context: BotContext) -> date | None:
    """A date written YYYY-MM-DD (ASCII digits) that is not in the future, or None."""
    import re

    if not re.fullmatch(r"[0-9]{4}-[0-9]{2}-[0-9]{2}", text):
        return None
    try:
        value = date.fromisoformat(text)
    except ValueError:
        return None
    return value if value <= local_today(context) else None


@clinician_command("fraction")
async def last_fraction(call: ClinicianCall) -> None:
    """/fraction <study_id> <YYYY-MM-DD> [delivered=N]: the actual last radiotherapy fraction (the flare window
    runs to 10 days after it) and how many fractions were delivered (default: as planned)."""
    from bot.services import intercurrent

    args = call.args
    usage = _("Usage: /fraction <study_id> <YYYY-MM-DD> [delivered=N]")
    row = await _patient_arg(call, usage)
    if row is None:
        return
    on = _past_date(args[1], call.context) if len(args) > 1 else None
    delivered: int | None = row.patient.fractions
    for extra in args[2:]:
        key, _sep, value = extra.partition("=")
        delivered = int(value) if key == "delivered" and value.isdigit() and 0 < int(value) <= 10 else None
    if on is None or on < row.patient.rt_start or delivered is None:
        await call.reply(usage)
        return
    await intercurrent.record_last_fraction(call.services, row.patient, on, delivered, actor=call.actor)
    await call.reply(
        _("Last fraction of {study_id}: {day} ({delivered} fraction(s) delivered).").format(
            study_id=row.patient.study_id, day=on.strftime("%d/%m/%Y"), delivered=delivered
        )
    )


@clinician_command("event")
async def intercurrent_event(call: ClinicianCall) -> None:
    """/event <study_id> <kind> <YYYY-MM-DD> [note]: an intercurrent event, listed per patient in the report.
    A withdrawal needs its reason as the note."""
    from bot.services import intercurrent

    args = call.args
    usage = _(
        "Usage: /event <study_id> <kind> <YYYY-MM-DD> [note]. Kinds: {kinds}. A withdrawal needs its "
        "reason. A death entered by mistake: /event <study_id> death-cancel <reason>."
    ).format(kinds=", ".join(intercurrent.EVENT_KINDS))
    row = await _patient_arg(call, usage)
    if row is None:
        return
    message, actor, context = call.message, call.actor, call.context
    if len(args) > 1 and args[1] == "death-cancel":
        reason = " ".join(args[2:]).strip()
        if not reason:
            await message.reply_text(usage)
            return
        if not await intercurrent.cancel_death(context.services, row.patient, reason, actor=actor):
            await message.reply_text(
                _("No death is recorded for {study_id}: nothing to cancel.").format(study_id=row.patient.study_id)
            )
            return
        await message.reply_text(
            _("Death entry of {study_id} cancelled: follow-up resumes.").format(study_id=row.patient.study_id)
        )
        return
    on = _past_date(args[2], context) if len(args) > 2 else None
    kind = args[1] if len(args) > 1 else ""
    note = " ".join(args[3:]).strip() or None
    if on is None or kind not in intercurrent.EVENT_KINDS or (kind in intercurrent.NEEDS_NOTE and note is None):
        await message.reply_text(usage)
        return
    try:
        await intercurrent.record_event(context.services, row.patient, kind, on, note, actor=actor)
    except intercurrent.AlreadyDeceased:
        await message.reply_text(
            _(
                "A death is already recorded for {study_id}: nothing is sent to the patient. "
                "To correct it: /event {study_id} death-cancel <reason>."
            ).format(study_id=row.patient.study_id)
        )
        return
    await message.reply_text(
        _("Event recorded for {study_id}: {kind} on {day}.").format(
            study_id=row.patient.study_id, kind=kind, day=on.strftime("%d/%m/%Y")
        )
    )


@clinician_command("traitement")
async def record_regimen(call: ClinicianCall) -> None:
    """/traitement <study_id> <product> <dose>[x<n>] [; ...] raison: <why>: the analgesic regimen as the team
    knows it (pumps and methadone included), reason required; the patient confirms it at the next questionnaire.
    With the study id alone: the regimen last recorded."""
    from bot.domain.omed import compute_omed
    from bot.domain.team_regimen import RegimenCommandError, describe_regimen, parse_regimen_command
    from bot.services import intercurrent

    args, services, message = call.args, call.services, call.message
    usage = _(
        "Usage: /traitement <study_id> <product> <dose>[x<per day>] [; <product> <dose>[x<per day>]] "
        "reason: <why>. Example: /traitement P-001 skenan 60x2 ; actiskenan 10x3 reason: after the "
        "hospital stay. Products: {products}."
    ).format(products=", ".join(p.code for p in services.opioids.products if p.substance is not None))
    row = await _patient_arg(call, usage)
    if row is None:
        return
    if len(args) == 1:
        entries = await clinician_commands.team_regimens_of(services, row.patient.id)
        if not entries:
            await message.reply_text(
                _("No regimen recorded by the team for {study_id}.").format(study_id=row.patient.study_id)
                + "\n\n"
                + usage
            )
            return
        last = entries[-1]
        await message.reply_text(
            _("Regimen recorded for {study_id} ({reason}):\n{regimen}").format(
                study_id=row.patient.study_id,
                reason=last.reason,
                regimen=describe_regimen(last.regimen, services.opioids),
            )
        )
        return
    try:
        entry = parse_regimen_command(" ".join(args[1:]), services.opioids)
    except RegimenCommandError as exc:
        await message.reply_text(f"{exc}\n\n{usage}")
        return
    await intercurrent.record_regimen(services, row.patient, entry.regimen, entry.reason, actor=call.actor)
    omed = compute_omed(entry.regimen, services.opioids)
    mg = _("not computable") if omed.mg is None else f"{omed.mg:g} mg/j"
    text = _(
        "Regimen recorded for {study_id}:\n{regimen}\nOral morphine equivalent: {mg} (table {table}, "
        "opioids.yaml {version}). The patient will be asked to confirm it at the next questionnaire."
    ).format(
        study_id=row.patient.study_id,
        regimen=describe_regimen(entry.regimen, services.opioids),
        mg=mg,
        table=omed.table,
        version=omed.catalogue_version,
    )
    if omed.to_confirm:
        text += "\n" + _("Factor to confirm by the site pharmacist: {what}.").format(what=", ".join(omed.to_confirm))
    await message.reply_text(text)
