"""What a caregiver is told (issue 36): help, and the advice after a red flag they
reported, addressed to them about their relative ("call 15 for your relative").

Why separate wording: the patient's advice says "you" to the patient ("call 15 now", "do not take another dose");
read by a relative it would be wrong about who must act. The advice is the same in substance and urgency as the
patient's (`bot.delivery.advice_text`), with the site's numbers and 15 / 112 / 114 on every line that matters.
"""

from __future__ import annotations

from datetime import datetime

from bot.delivery.advice_text import callback_promise, reading_time
from bot.domain.sites import Site
from bot.i18n import _

__all__ = ["caregiver_advice_text", "caregiver_help_text"]


def _numbers(site: Site | None) -> str:
    line = "\n" + _("Emergency: 15 (SAMU) or 112. Deaf or hard of hearing: SMS to 114.")
    if site is None:
        return line
    return (
        line
        + "\n"
        + _(
            "Radiotherapy department: {day} (working hours). At night, at weekends and on public holidays: {on_call}."
        ).format(day=site.daytime_phone, on_call=site.on_call_phone)
    )


def caregiver_help_text(site: Site | None) -> str:
    return _(
        "You help your relative answer their questionnaires.\n"
        "• /repondre: answer the open questionnaire for your relative.\n"
        "• You can write to the care team here: your message is kept and passed on.\n"
        "• /stop: stop being a caregiver in this follow-up.\n\n"
        "This service is not watched around the clock and is not an emergency service."
    ) + _numbers(site)


def caregiver_advice_text(advice: str, site: Site | None, local_now: datetime) -> str:
    """The advice after a worrying answer or message from the caregiver, at `local_now` (site time zone)."""
    if advice == "suicide":
        return _(
            "Thank you for telling us. If your relative is thinking of ending their life, or has taken medicines "
            "to harm themselves, call 15 (SAMU) or 112 now for your relative, and stay with them.\n"
            "To talk to someone now, day and night, free of charge: 3114 (suicide prevention line).\n"
            "Your message has been passed on to the care team, but do not wait for their answer."
        ) + _numbers(site)
    if advice in ("same_day", "same_day_now"):
        return (
            _("About your relative:")
            + " "
            + callback_promise(site, local_now)
            + "\n"
            + _("If it gets worse before then, call the on-call number below, or 15 (SAMU) or 112 for your relative.")
            + _numbers(site)
        )
    if advice == "inclusion":
        return _(
            "This answer was given before the radiotherapy: a doctor must check your relative before the "
            "treatment. Call the radiotherapy department now for your relative (at night, at weekends and on "
            "public holidays: the on-call number below). If you cannot reach them, or if it gets worse, call 15 "
            "(SAMU) or 112."
        ) + _numbers(site)
    what = {
        "neuro": _(
            "A new sign in the legs, the feeling, the bladder or the bowels must be seen by a doctor now, even if it "
            "has eased since."
        ),
        "toxicity": _(
            "Being very sleepy, breathing slowly, sudden jerks or seeing things that are not there can come from the "
            "pain medicines. Your relative must not take another dose of pain medicine before a doctor says so."
        ),
        "toxicity_patch": _(
            "Being very sleepy, breathing slowly, sudden jerks or seeing things that are not there can come from the "
            "pain medicines. Take off your relative's fentanyl patch now, and give no other dose of pain medicine "
            "before a doctor says so."
        ),
        "fever": _("A fever or shivers with feeling very unwell can be serious and must be seen now, day or night."),
        "fever_maybe_chemo": _(
            "A fever or shivers with feeling very unwell can be serious and must be seen now, day or night."
        ),
    }.get(advice, _("This must be seen by a doctor now."))
    return (
        what
        + "\n"
        + _(
            "Call 15 (SAMU) or 112 now for your relative. If they do not wake up or do not breathe normally, stay "
            "with them."
        )
        + "\n"
        + _("The care team has been told.")
        + " "
        + reading_time(site, local_now)
        + _numbers(site)
    )
