"""Data-quality flags the exports carry next to an answer, derived (pure) from the schedule and the stored rows.

Why in the export and not in the database: a flag is a reading of stored facts (when the answer was given, when the
first fraction started, when the patient was enrolled); keeping it derived means correcting day 0 (`/day0`)
re-derives it, and nothing stored has to be rewritten.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Final

from bot.clock import parse_utc
from bot.domain.models import Instance, Patient
from bot.domain.schedule import ScheduleSpec, answered_after_rt_start, load_schedule, rt_start_moment

AFTER_RT_START: Final[str] = "after_rt_start"
"""A baseline answer given at or after the start of the first fraction: not a pre-treatment value."""
ENROLLED_AFTER_RT_START: Final[str] = "enrolled_after_rt_start"
"""The patient was enrolled at or after the start of the first fraction: no pre-treatment baseline was possible."""
FLAG_SEPARATOR: Final[str] = ";"


@lru_cache(maxsize=1)
def default_schedule() -> ScheduleSpec:
    """The shipped schedule (`questionnaires/schedule.yaml`), read once per process."""
    return load_schedule()


def enrolled_after_rt_start(spec: ScheduleSpec, patient: Patient) -> bool:
    return patient.enrolled_at >= rt_start_moment(spec, patient.rt_start)


def answer_flags(spec: ScheduleSpec, patient: Patient, instance: Instance, answered_at: str) -> list[str]:
    """The flags of one answer row (stored UTC text `answered_at`), in a fixed order."""
    flags: list[str] = []
    baseline_parts = {(spec.baseline.questionnaire, spec.baseline.label)}
    if spec.baseline_more is not None:  # issue 35: the second part is baseline data too
        baseline_parts.add((spec.baseline_more.questionnaire, spec.baseline_more.label))
    if (instance.questionnaire_id, instance.timepoint) in baseline_parts and answered_after_rt_start(
        spec, patient.rt_start, parse_utc(answered_at)
    ):
        flags.append(AFTER_RT_START)
    if enrolled_after_rt_start(spec, patient):
        flags.append(ENROLLED_AFTER_RT_START)
    return flags
