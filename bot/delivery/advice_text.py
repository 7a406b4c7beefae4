"""What the patient is told at once after a worrying answer or message: true at the hour it is read.

Written so that no advice is conditional where the sign itself is the emergency: a new neurological sign needs
immediate contact even if it has eased since (NICE NG234, 2023), so the neurological advice says "call now", not
"if it is still there". The same-day advice knows the site's working hours and French public holidays: at 19:00 on
a Friday it does not promise a call "today" but says when the team will call back, and what to do until then; and
for a same-day sign that cannot wait (advice "same_day_now": vomiting everything, cannot swallow, uncontrolled
pain) it gives the on-call number to call now (issue 32). Outside working hours no advice says the team "is
informed": it says when the answer will be read. Every advice names the site's numbers
(`questionnaires/sites.yaml`) beside 15 / 112 (114 by SMS).
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from babel.dates import format_date

from bot.domain.sites import Callback, Site, is_open, next_callback, same_day_callback
from bot.i18n import _


def _deaf_line() -> str:
    return "\n" + _("Deaf or hard of hearing: SMS to 114.")


def _emergency_numbers() -> str:
    return _("Emergency: 15 (SAMU) or 112. Deaf or hard of hearing: SMS to 114.")


def _site_numbers(site: Site | None) -> str:
    if site is None:
        return ""
    return "\n" + _(
        "Radiotherapy department: {day} (working hours). At night, at weekends and on public holidays: {on_call}."
    ).format(day=site.daytime_phone, on_call=site.on_call_phone)


def _when(callback: Callback) -> str:
    """ "lundi 8 mars" (babel, French) for a callback on a later day."""
    return format_date(callback.at.date(), format="EEEE d MMMM", locale="fr_FR")


#: What the advice is about: a tapped answer to a question, or the patient's own typed message (issue 39, item 6:
#: a sentence the patient wrote is a message, never "this answer").
About = Literal["answer", "message"]


def team_line(site: Site | None, local_now: datetime, about: About = "answer") -> str:
    """Who knows, and when it will be read: "informed" only while the team is at work (issue 32: not at 03:00)."""
    if site is None:
        return (
            _("Your message has been passed on to your care team. It is read during working hours.")
            if about == "message"
            else _("Your answer has been passed on to your care team. It is read during working hours.")
        )
    if is_open(site, local_now):
        return (
            _("Your care team has been informed of this message.")
            if about == "message"
            else _("Your care team has been informed of this answer.")
        )
    callback = next_callback(site, local_now)
    if callback.today:
        return (
            _("Your message has been passed on to your care team. It will be read today, from {hour}.")
            if about == "message"
            else _("Your answer has been passed on to your care team. It will be read today, from {hour}.")
        ).format(hour=_hour(callback.at))
    return (
        _("Your message has been passed on to your care team. It will be read on {day}, from {hour}.")
        if about == "message"
        else _("Your answer has been passed on to your care team. It will be read on {day}, from {hour}.")
    ).format(day=_when(callback), hour=_hour(callback.at))


def callback_promise(site: Site | None, local_now: datetime, about: About = "answer") -> str:
    """When the team will call about a same-day alert: "today" only on a working day before the site's same-day
    cut-off (`Site.cutoff_time`), else the next working day; and it says "informed" only while the team is at work.
    """
    if site is None:
        return _("Your care team has been informed and will call you back during working hours.")
    callback = same_day_callback(site, local_now)
    if callback.open_now:
        return _("Your care team has been informed and will call you today.")
    hour = _hour(callback.at)
    if callback.today:
        return (
            _(
                "Your message has been passed on to your care team. The team will read it and call you today, "
                "from {hour}."
            )
            if about == "message"
            else _(
                "Your answer has been passed on to your care team. The team will read it and call you today, "
                "from {hour}."
            )
        ).format(hour=hour)
    if is_open(site, local_now):
        return _(
            "Your care team has been informed. It may not be able to call you back today: it will call you on "
            "{day}, from {hour}."
        ).format(day=_when(callback), hour=hour)
    return (
        _(
            "Your message has been passed on to your care team. The team will read it and call you back on {day}, "
            "from {hour}."
        )
        if about == "message"
        else _(
            "Your answer has been passed on to your care team. The team will read it and call you back on {day}, "
            "from {hour}."
        )
    ).format(day=_when(callback), hour=hour)


def _call_now(site: Site | None, local_now: datetime) -> str:
    """A same-day sign that cannot wait, when the team cannot call today: the number to call now (issue 32)."""
    if site is None:
        return _("This cannot wait: call your hospital's on-call number now, or 15 (SAMU) or 112.")
    if is_open(site, local_now):
        return _(
            "Do not wait for the call: call the radiotherapy department now: {number}.\n"
            "If no one answers, call 15 (SAMU) or 112."
        ).format(number=site.daytime_phone)
    return _(
        "This cannot wait until then: call the on-call number now: {number}.\nIf no one answers, call 15 (SAMU) or 112."
    ).format(number=site.on_call_phone)


def advice_text(advice: str, site: Site | None, local_now: datetime, about: About = "answer") -> str:
    """The message for one kind of advice (`bot.domain.rules.Advice`), at `local_now` (site time zone).

    Every advice names 15 and 112, and 114 by SMS, beside the site's numbers. `about`: after a red flag in the
    patient's own words the first line speaks of "this message", after a tapped answer of "this answer".
    """
    numbers = _site_numbers(site)
    if advice in ("suicide", "emergency"):
        return _life_threat_advice(advice) + numbers
    first = team_line(site, local_now, about) + "\n"
    if advice == "neuro":
        return (
            first
            + _(
                "A new sign in the legs, the feeling, the bladder or the bowels must be seen by a doctor now, even if it "
                "has eased since.\nCall 15 (SAMU) or 112 now. Deaf or hard of hearing: SMS to 114.\n"
                "Do not wait for us to call you back."
            )
            + numbers
        )
    if advice in ("toxicity", "toxicity_patch"):
        patch = (
            _(
                "Take off your fentanyl patch now (Durogesic or other), and do not put on a new one before a doctor "
                "tells you to."
            )
            + "\n"
            if advice == "toxicity_patch"
            else ""
        )
        return (
            first
            + _(
                "Being very sleepy, breathing slowly, sudden jerks of the arms or legs, or seeing things that are not there "
                "can come from the pain medicines."
            )
            + "\n"
            + patch
            + _(
                "Call 15 (SAMU) or 112 now. Do not take another dose of your pain medicine before a doctor tells you to.\n"
                "If someone is with you, show them this message."
            )
            + _deaf_line()
            + numbers
        )
    if advice in ("fever", "fever_maybe_chemo"):
        why = (
            _(
                "A fever with chemotherapy, or shivers with feeling very unwell, can be serious and must be seen now, "
                "day or night."
            )
            if advice == "fever"
            else _(
                "A fever, or shivers with feeling very unwell, can be serious if you may have had chemotherapy recently, "
                "and must be seen now, day or night."
            )
        )
        return (
            first
            + why
            + "\n"
            + _("Call now: the department's on-call number below, or 15 (SAMU) or 112. Do not wait until tomorrow.")
            + _deaf_line()
            + numbers
        )
    if advice == "inclusion":
        return (
            first
            + _(
                "This answer was given before your radiotherapy: a doctor must check you before the treatment.\n"
                "Call the radiotherapy department now (at night, at weekends and on public holidays: the on-call number "
                "below). If you cannot reach them, or if it gets worse, call 15 (SAMU) or 112."
            )
            + _deaf_line()
            + numbers
        )
    if advice in ("same_day", "same_day_now"):
        promise = callback_promise(site, local_now, about)
        if advice == "same_day_now" and (site is None or not same_day_callback(site, local_now).open_now):
            return promise + "\n" + _call_now(site, local_now) + _deaf_line() + numbers
        return (
            promise
            + "\n"
            + _("If it gets worse before then, call the on-call number below, or 15 (SAMU) or 112.")
            + _deaf_line()
            + numbers
        )
    return (
        first
        + _("Call 15 (SAMU) or 112 now. Deaf or hard of hearing: SMS to 114.\nDo not wait for us to call you back.")
        + numbers
    )


def _life_threat_advice(advice: str) -> str:
    """Suicidal thoughts (3114, the French national suicide prevention line, and 15) or a life-threatening sign (15).

    These come first and never wait for the team: the message is passed on, but it is read during working hours.
    """
    if advice == "suicide":
        return (
            _(
                "Thank you for telling us. You are not alone.\n"
                "If you are thinking of ending your life, or if you have taken medicines to harm yourself, call 15 (SAMU) "
                "or 112 now.\n"
                "To talk to someone now, day and night, free of charge: 3114 (suicide prevention line).\n"
                "Your message has been passed on to your care team, but do not wait for their answer."
            )
            + _deaf_line()
        )
    return (
        _(
            "This must be seen by a doctor now.\n"
            "Call 15 (SAMU) or 112 now. If the person does not wake up or does not breathe normally, call 15 and stay "
            "with them.\n"
            "Your message has been passed on to your care team, but do not wait for their answer."
        )
        + _deaf_line()
    )


def message_received_text(site: Site | None, local_now: datetime) -> str:
    """After a patient's own words (whatever the screen said): passed on, when it will truly be read, and the safety
    line (15 / 112, 114 by SMS, the site's on-call number): nobody reads this chat at 03:00 (issue 31)."""
    return (
        _("Your message has been passed on to your care team.")
        + " "
        + reading_time(site, local_now)
        + "\n"
        + safety_line(site)
    )


def _hour(moment: datetime) -> str:
    """9 h, 8 h 30 (French usage)."""
    return f"{moment.hour} h" if moment.minute == 0 else f"{moment.hour} h {moment.minute:02d}"


def emergency_footer(site: Site | None) -> str:
    """The numbers for /aide and the welcome message."""
    return _emergency_numbers() + _site_numbers(site)


def reading_time(site: Site | None, local_now: datetime) -> str:
    """When the team will actually read a message sent now: "today", "today, from 9 h", "on Monday 8 March…"."""
    if site is None:
        return _("It will be read during working hours.")
    callback = next_callback(site, local_now)
    if callback.open_now:
        return _("The team will read it today.")
    if callback.today:
        return _("The team will read it today, from {hour}.").format(hour=_hour(callback.at))
    day = format_date(callback.at.date(), format="EEEE d MMMM", locale="fr_FR")
    return _("The team will read it on {day}, from {hour}.").format(day=day, hour=_hour(callback.at))


def safety_line(site: Site | None) -> str:
    """The line every reply to the patient's own words carries: this chat is not an emergency service, whom to call."""
    return _(
        "This chat is not watched around the clock. If it is urgent, call 15 (SAMU) or 112 now, or the on-call "
        "number below. Deaf or hard of hearing: SMS to 114."
    ) + _site_numbers(site)


def media_received_text(site: Site | None, local_now: datetime) -> str:
    """After a voice note, photo, video…: it cannot be screened for danger signs, so the patient is told plainly that
    a person will see it, when, and whom to call now if it is urgent (issue 31)."""
    return (
        _(
            "Your message has been passed on to your care team. A voice message, a photo or a video is not read "
            "by the bot: a member of the team will look at it."
        )
        + " "
        + reading_time(site, local_now)
        + "\n"
        + safety_line(site)
    )


def hint_with_safety(hint: str, site: Site | None, local_now: datetime, *, kept: bool) -> str:
    """The hint to answer the question (a stray word or an out-of-range number), with the safety line; `kept`: the
    words were kept for the team (a stray word), said with when they will be read."""
    if kept:
        return (
            hint
            + "\n"
            + _("Your message is kept for your care team.")
            + " "
            + reading_time(site, local_now)
            + "\n"
            + safety_line(site)
        )
    return hint + "\n" + safety_line(site)
