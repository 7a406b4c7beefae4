"""The coordinators' call list for the primary end point (issue 16): who to phone before the day-30 window closes.

Derived, never stored: a patient is on the list while their day-30 questionnaire is not completed, its window is
still open, and the call-list moment (`bot.domain.schedule.call_list_time`) has passed. It leaves the list by
itself once the patient or the nurse (/saisie) completes the questionnaire, when the window closes, or on
withdrawal. Shown by /appels in the clinicians' group and in the morning digest.

Issue 33: the day-30 response needs a baseline too (Chow 2012: the change from baseline), and a patient without one
is lost to the primary end point however well day 30 goes. So a baseline still not completed
`BASELINE_LISTED_AFTER` after it was sent is on the list as well, until its window closes (the end of day 0): the
nurse phones, or enters it with the patient who comes in for the first fraction.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from bot.domain import schedule
from bot.domain.models import Instance, Patient
from bot.i18n import _
from bot.services.container import Services
from bot.services.status_labels import site_label, status_label, timepoint_label
from bot.storage import instances, patients

#: A baseline not completed this long after it was sent goes on the call list (issue 33): after the patient's own
#: reminder at +4 h (questionnaires/schedule.yaml, reminders), so the nurse calls only those the reminder did not
#: bring back. Project choice, to be set by each site.
BASELINE_LISTED_AFTER = timedelta(hours=4)

#: Patients a nurse may still phone: not withdrawn (withdrawal is final), and already following the schedule.
CALLABLE_STATUSES = ("active", "paused", "unreachable")


@dataclass(frozen=True)
class CallEntry:
    patient: Patient
    instance: Instance
    listed_at: datetime  # when the patient went on the list
    answered_items: int  # items already answered in the day-30 questionnaire (a partial answer)


def _planned(instance: Instance) -> schedule.PlannedInstance:
    return schedule.PlannedInstance(
        instance.questionnaire_id,
        instance.timepoint,
        instance.study_day,
        instance.opens_at,
        instance.closes_at,
        instance.is_primary,
    )


async def entries(services: Services) -> list[CallEntry]:
    """Everyone on the call list now, the window closing soonest first."""
    now = services.clock.now()
    tz = services.settings.timezone
    found: list[CallEntry] = []
    async with services.store.read() as tx:
        for instance in await instances.primary_still_open(tx, now, CALLABLE_STATUSES):
            patient = await patients.get_patient(tx, instance.patient_id)
            assert patient is not None
            listed = schedule.call_list_time(services.schedule, _planned(instance), tz)
            if listed is None or now < listed:
                continue
            answered = len(await instances.current_answers(tx, instance.id))
            found.append(CallEntry(patient, instance, listed, answered))
        for instance in await instances.baseline_still_open(tx, now, CALLABLE_STATUSES):
            listed = instance.opens_at + BASELINE_LISTED_AFTER
            if now < listed:
                continue
            patient = await patients.get_patient(tx, instance.patient_id)
            assert patient is not None
            answered = len(await instances.current_answers(tx, instance.id))
            found.append(CallEntry(patient, instance, listed, answered))
    return sorted(found, key=lambda e: (e.instance.closes_at, e.patient.study_id))


def entry_line(entry: CallEntry, services: Services) -> str:
    """One line of the list, as a research nurse reads it."""

    tz = services.settings.timezone
    closes = entry.instance.closes_at.astimezone(tz).strftime("%d/%m %H:%M")
    return _(
        "• {study_id} ({site}): {timepoint} not completed ({answered} answer(s) so far), window closes "
        "{closes}; patient {status}. Phone entry: /saisie {study_id}"
    ).format(
        study_id=entry.patient.study_id,
        site=site_label(services.sites, entry.patient.site_code),
        timepoint=timepoint_label(entry.instance.timepoint),
        answered=entry.answered_items,
        closes=closes,
        status=status_label(entry.patient.status),
    )


async def call_list_lines(services: Services) -> list[str]:
    """The heading and one line per patient (the heading alone when nobody is on the list)."""
    found = await entries(services)
    heading = _("Call list, day-30 end point (baseline and day-30 questionnaires): {count}").format(count=len(found))
    return [heading] + [entry_line(e, services) for e in found]
