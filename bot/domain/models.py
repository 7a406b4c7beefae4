"""Plain records the storage layer returns and the services pass around (no I/O here)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Literal

Arm = Literal["standard", "experimental"]
PatientStatus = Literal["invited", "joined", "active", "paused", "withdrawn", "unreachable", "deceased"]
#: The bot never writes to these patients' chats again (what they send is still kept and passed on): a patient who
#: stopped, and a patient recorded as deceased (a relative may still hold the phone).
NEVER_WRITTEN_TO: frozenset[str] = frozenset({"withdrawn", "deceased"})
PreferredTime = Literal["matin", "midi", "soir"]
InstanceStatus = Literal["planned", "sending", "open", "completed", "missed", "cancelled"]

ARMS: tuple[str, ...] = ("standard", "experimental")
FRACTIONATIONS: tuple[int, ...] = (1, 5)  # 8 Gy x 1 or 20 Gy x 5 (docs/clinical/schedule.md)
PREFERRED_TIMES: tuple[str, ...] = ("matin", "midi", "soir")


@dataclass(frozen=True)
class Patient:
    id: int
    study_id: str
    site_code: str
    arm: Arm
    rt_start: date
    fractions: int
    status: PatientStatus
    preferred_time: PreferredTime
    enrolled_at: datetime
    joined_at: datetime | None
    last_fraction_on: date | None = None
    """The actual last fraction, when a clinician recorded it (/fraction); else the schedule's."""
    fractions_delivered: int | None = None


@dataclass(frozen=True)
class TelegramLink:
    patient_id: int
    telegram_user_id: int
    chat_id: int


@dataclass(frozen=True)
class Instance:
    id: int
    patient_id: int
    questionnaire_id: str
    questionnaire_version: str
    timepoint: str
    study_day: int | None
    is_primary: bool
    opens_at: datetime
    closes_at: datetime
    status: InstanceStatus
    sent_at: datetime | None
    completed_at: datetime | None
    reminders_sent: int
    question_message_id: int | None
    correcting_item: str | None
    selection: tuple[str, ...] | None
    questionnaire_hash: str | None = None
    """Hash of the questionnaire as sent (`questionnaire.content_hash`); None until sent (or sent before 0007)."""
    held_by: str | None = None
    """Who started answering it and holds it (issue 36): "patient", "caregiver:<id>", or None before any answer."""
