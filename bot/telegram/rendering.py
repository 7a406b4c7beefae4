"""Turning prompts and outcomes into the plain-text messages patients read.

Messages are sent without a parse mode: nothing a patient or a questionnaire file contains can break the markup or
be interpreted as formatting.
"""

from __future__ import annotations

from bot.domain import engine
from bot.i18n import _
from bot.services.answering import Prompt


def question_text(prompt: Prompt) -> str:
    header = _("Question {position} / {total}").format(position=prompt.position, total=prompt.total)
    if prompt.correcting:
        header += " — " + _("correction")
    text = f"{header}\n\n{prompt.item.text}"
    if prompt.item.type in ("number", "text"):
        text += "\n\n" + _("Type your answer in a message.")
    elif prompt.item.type == "multi":
        text += "\n\n" + _("Tick every answer that applies, then press \"Confirm\".")
    return text


def answered_text(prompt_text: str, item: object, value: object) -> str:
    """The question message after the answer: the choice shown, the keyboard gone."""
    return prompt_text + "\n\n" + _("Your answer: {answer}").format(answer=engine.display_value(item, value))


def summary_text(title: str, lines: list[str]) -> str:
    body = "\n".join(f"• {line}" for line in lines)
    return _("Thank you, the questionnaire \"{title}\" is complete. Your answers:").format(title=title) + (
        f"\n{body}" if body else ""
    ) + "\n\n" + _("Your care team can see them. If something worries you, contact your care team; in an "
                   "emergency call 15 or 112.")


def emergency_text() -> str:
    """What a patient is told at once after an urgent answer (shared/clinical/red-flags.md)."""
    return _(
        "Your care team has been informed of this answer.\n"
        "If this symptom is there now, call 15 (SAMU) or 112 right away. Deaf or hard of hearing: send an SMS to "
        "114.\nDo not wait for us to call you back."
    )


def same_day_text() -> str:
    return _(
        "Your care team has been informed and will contact you today (during working hours). If you feel worse, "
        "call 15 or 112."
    )
