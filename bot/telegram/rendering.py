"""Turning prompts and outcomes into the plain-text messages patients read.

Messages are sent without a parse mode: nothing a patient or a questionnaire file contains can break the markup or
be interpreted as formatting.
"""

from __future__ import annotations

from bot.domain import engine
from bot.domain.questionnaire import Item, Value
from bot.i18n import _
from bot.services.answering import Prompt


def question_text(prompt: Prompt) -> str:
    """The question as the patient reads it, headed "Question 3".

    No total (issue 35): with gates ("Aucun de ces signes" / "Oui"), the number of questions depends on the answers
    still to come, so any total shown before them either jumps up mid-questionnaire ("8 / 18" then "9 / 21") or
    overstates the path of a patient who has nothing to report. The position counts the questions actually asked so
    far, so it only ever goes up by one; the intro says how long a quiet day is."""
    header = _("Question {position}").format(position=prompt.position)
    if prompt.correcting:
        header += " — " + _("correction")
    text = f"{header}\n\n{prompt.text or prompt.item.text}"
    if prompt.item.type in ("number", "text"):
        text += "\n\n" + _("Type your answer in a message.")
    elif prompt.item.type == "multi":
        text += "\n\n" + _('Tick every answer that applies, then press "Confirm".')
    return text


def answered_text(prompt_text: str, item: Item, value: Value) -> str:
    """The question message after the answer: the choice shown, the keyboard gone."""
    return prompt_text + "\n\n" + _("Your answer: {answer}").format(answer=engine.display_value(item, value))


def summary_text(title: str, lines: list[str]) -> str:
    body = "\n".join(f"• {line}" for line in lines)
    return (
        _('Thank you, the questionnaire "{title}" is complete. Your answers:').format(title=title)
        + (f"\n{body}" if body else "")
        + "\n\n"
        + _(
            "Your care team can see them. If something worries you, contact your care team; in an "
            "emergency call 15 or 112."
        )
    )
