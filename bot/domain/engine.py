"""The questionnaire engine: which item comes next, and turning a button press or typed text into an answer.

Pure functions over a `Questionnaire` and the answers so far (a mapping item id → value): no I/O, no Telegram, no
database, so the Telegram layer, the sandbox and the tests all drive the same logic.

Visibility is always recomputed from the answers, in item order, because a `show_if` only looks at earlier items.
An answer to an item that is hidden *now* (the patient went back and changed an earlier answer) is ignored
everywhere — by `visible_items`, `next_item`, `summary_lines` and `effective_answers` — but not deleted: the caller
decides what to keep, and if the patient changes the answer back, the old one is valid again.

Error messages for the patient are French, through `bot.i18n._` with English msgids.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Final

from bot.domain.questionnaire import MARKERS, SKIPPED, UNKNOWN, Condition, Item, Questionnaire, Value
from bot.i18n import _

__all__ = [
    "InvalidAnswer",
    "Walk",
    "walk",
    "visible_items",
    "effective_answers",
    "next_item",
    "progress",
    "condition_holds",
    "answer_from_button",
    "answer_from_selection",
    "answer_from_text",
    "display_value",
    "format_number",
    "summary_lines",
    "answer_line",
]

_YES: Final[str] = "yes"
_NO: Final[str] = "no"
_TYPED_YES_NO: Final[Mapping[str, str]] = {"oui": _YES, "non": _NO}
_TRAILING_PUNCTUATION: Final[str] = " \t\n.!?…;:,'\"«»"
_NUMBER_RE: Final[re.Pattern[str]] = re.compile(r"([0-9]+)(?:[.,]([0-9]+))?", re.ASCII)
_MAX_NUMBER_TEXT: Final[int] = 32
"""Longer typed "numbers" are refused before parsing (no patient dose has 32 characters)."""
_DECIMAL_SEPARATORS: Final[Mapping[str, str]] = {"\u066b": ".", "\uff0c": ",", "\uff0e": "."}
"""Arabic decimal separator and full-width comma/full stop, read like their ASCII forms."""
_SUMMARY_TEXT_MAX: Final[int] = 60
"""A free-text answer is cut to this many characters in the summary (the full text is stored)."""


class InvalidAnswer(ValueError):
    """The patient's input is not a valid answer. `message` is French and says what is expected."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


# ---------------------------------------------------------------------------------------------------------------
# Visibility and navigation
# ---------------------------------------------------------------------------------------------------------------
def _is_number(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def condition_holds(condition: Condition, answers: Mapping[str, Value]) -> bool:
    """Evaluate a `show_if` on answers (which should already exclude hidden items, see `effective_answers`).

    Missing, skipped and unknown answers make every leaf false, `not_in` included: "not a patch" must not be
    concluded from "did not say".
    """
    if condition.all_ is not None:
        return all(condition_holds(child, answers) for child in condition.all_)
    if condition.any_ is not None:
        return any(condition_holds(child, answers) for child in condition.any_)
    assert condition.item is not None
    value = answers.get(condition.item)
    if condition.unknown is not None:
        return value == UNKNOWN
    if value is None or (isinstance(value, str) and value in MARKERS):
        return False
    if condition.gte is not None:
        return _is_number(value) and value >= condition.gte  # type: ignore[operator]  # _is_number(value) guarantees a number; mypy cannot narrow through the helper
    picked: Collection[object] = value if isinstance(value, list) else (value,)
    if condition.equals is not None:
        return any(_same(v, condition.equals) for v in picked)
    if condition.in_ is not None:
        return any(_same(v, c) for v in picked for c in condition.in_)
    if condition.not_in is not None:
        return not any(_same(v, c) for v in picked for c in condition.not_in)
    raise AssertionError("validated condition without a kind")  # pragma: no cover


def _same(answer: object, expected: object) -> bool:
    """Equality that never mixes text and numbers ("7" is not 7) nor booleans with numbers."""
    if isinstance(answer, bool) or isinstance(expected, bool):
        return False
    if _is_number(answer) and _is_number(expected):
        return answer == expected
    return type(answer) is type(expected) and answer == expected


@dataclass(frozen=True)
class Walk:
    """One pass over a questionnaire's items for some answers: what is shown, and the answers that count.

    `prompt_for` needs the next item, its position and whether an earlier one was answered: one walk gives them all
    (issue #18: the walk ran about nine times per stored answer, and it is the engine's whole cost)."""

    visible: list[Item]
    effective: dict[str, Value]

    def next_item(self, answers: Mapping[str, Value]) -> Item | None:
        """The first visible item without an answer; None when the questionnaire is finished."""
        for item in self.visible:
            if item.id not in answers:
                return item
        return None

    def progress(self, item: Item) -> tuple[int, int]:
        """(1-based position of `item` among the visible items, how many are visible): see `progress`."""
        for position, candidate in enumerate(self.visible, start=1):
            if candidate.id == item.id:
                return position, len(self.visible)
        raise ValueError(f'item "{item.id}" is not visible with these answers')


def walk(q: Questionnaire, answers: Mapping[str, Value]) -> Walk:
    """Visibility in item order; a `show_if` reads the effective earlier answers and the bot's context facts.

    `seen` is what the conditions read: the effective answers so far, and for a context item (never asked, the
    bot's fact) its answer if there is one, else "no" — a fact the bot did not supply is not "yes".
    """
    visible: list[Item] = []
    effective: dict[str, Value] = {}
    seen: dict[str, Value] = {}
    for item in q.items:
        if item.context:
            if item.id in answers:
                effective[item.id] = seen[item.id] = answers[item.id]
            else:
                seen[item.id] = _NO
            continue
        if item.show_if is None or condition_holds(item.show_if, seen):
            visible.append(item)
            if item.id in answers:
                effective[item.id] = seen[item.id] = answers[item.id]
    return Walk(visible, effective)


def visible_items(q: Questionnaire, answers: Mapping[str, Value]) -> list[Item]:
    """Items whose `show_if` holds on the (visible) earlier answers, in asking order."""
    return walk(q, answers).visible


def effective_answers(q: Questionnaire, answers: Mapping[str, Value]) -> dict[str, Value]:
    """The answers that count: those of currently visible items (what rules, OMED and exports should read)."""
    return walk(q, answers).effective


def next_item(q: Questionnaire, answers: Mapping[str, Value]) -> Item | None:
    """The first visible item without an answer; None when the questionnaire is finished."""
    return walk(q, answers).next_item(answers)


def progress(q: Questionnaire, answers: Mapping[str, Value], item: Item) -> tuple[int, int]:
    """(1-based position of `item` among the currently visible items, how many are visible) — "Question 3 / 9".

    The total can change as branches open or close; it is always the truth for the answers so far.
    """
    return walk(q, answers).progress(item)


# ---------------------------------------------------------------------------------------------------------------
# Turning input into answers
# ---------------------------------------------------------------------------------------------------------------
def _marker_from_button(item: Item, code: str) -> str | None:
    if code == SKIPPED:
        if not item.optional:
            raise InvalidAnswer(_("This question cannot be skipped."))
        return SKIPPED
    if code == UNKNOWN:
        if not item.allow_unknown:
            raise InvalidAnswer(_("Please choose one of the answers shown."))
        return UNKNOWN
    return None


def answer_from_button(item: Item, code: str) -> Value:
    """The answer for a pressed button: "0".."10" (scale), "yes"/"no", a choice code, "_skip", "_unknown".

    Multi items are finished with `answer_from_selection`; number and text items are typed, so their only buttons
    are the markers.
    """
    marker = _marker_from_button(item, code)
    if marker is not None:
        return marker
    if item.type == "scale":
        if code in {str(n) for n in range(int(item.min or 0), int(item.max or 0) + 1)}:
            return int(code)
    elif item.type == "yesno":
        if code in (_YES, _NO):
            return code
    elif item.type == "single":
        if item.choice(code) is not None:
            return code
    elif item.type == "multi":
        raise InvalidAnswer(_("Please tick your answers, then confirm your choice."))
    elif item.type == "number":
        raise InvalidAnswer(_number_message(item))
    else:
        raise InvalidAnswer(_("Please type your answer."))
    raise InvalidAnswer(_("Please choose one of the answers shown."))


def answer_from_selection(item: Item, codes: Collection[str]) -> Value:
    """The final answer of a multi item from the ticked codes: a sorted list of codes.

    An empty selection is a skip on an optional item and an error otherwise; an exclusive choice ("aucun")
    cannot be ticked with others.
    """
    if item.type != "multi":
        raise ValueError(f'item "{item.id}" is a {item.type} item, not multi')
    selected = set(codes)
    if not selected:
        if item.optional:
            return SKIPPED
        raise InvalidAnswer(_("Please tick at least one answer, then confirm your choice."))
    for code in selected:
        if item.choice(code) is None:
            raise InvalidAnswer(_("Please choose one of the answers shown."))
    if len(selected) > 1:
        for code in sorted(selected):
            choice = item.choice(code)
            assert choice is not None
            if choice.exclusive:
                raise InvalidAnswer(_('"{label}" cannot be combined with other answers.').format(label=choice.label))
    return sorted(selected)


def _normalise_digits(text: str) -> str:
    """Read full-width and Arabic-Indic digits as ASCII digits.

    `unicodedata.decimal` (category Nd only) rather than `unicodedata.digit`: the latter also turns superscripts and
    circled digits into digits, so "7²" would become 72.
    """
    out = []
    for ch in text:
        if ch in _DECIMAL_SEPARATORS:
            out.append(_DECIMAL_SEPARATORS[ch])
            continue
        value = unicodedata.decimal(ch, None)
        out.append(str(value) if value is not None else ch)
    return "".join(out)


def _fold(text: str) -> str:
    """Case- and accent-insensitive form (NFKC also unifies the micro sign µ with the Greek letter μ)."""
    decomposed = unicodedata.normalize("NFKD", unicodedata.normalize("NFKC", text).casefold())
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch))


def _parse_number(item: Item, text: str) -> int | float | None:
    """Parse a typed number: digits, optionally one `,`/`.` and digits, optionally followed by the item's unit.

    No sign, no exponent, no fraction, no thousands separator, no NaN/inf: anything else is None.
    """
    text = _normalise_digits(text).strip()
    if item.unit:
        folded, unit = _fold(text), _fold(item.unit)
        if folded.endswith(unit):
            text = folded[: -len(unit)].strip()
    if not text or len(text) > _MAX_NUMBER_TEXT:
        return None
    match = _NUMBER_RE.fullmatch(text)
    if match is None:
        return None
    try:
        number = Decimal(text.replace(",", "."))
    except InvalidOperation:  # pragma: no cover - the regex only lets digits through
        return None
    if number == number.to_integral_value():
        return int(number)
    return float(number)


def _number_message(item: Item) -> str:
    low = item.min if item.min is not None else 0
    high = item.max if item.max is not None else 0
    example = 2 if low <= 2 <= high else low
    values = {"min": format_number(low), "max": format_number(high), "example": format_number(example)}
    if item.decimals:
        return _("Please type a number between {min} and {max} (for example {example}).").format(**values)
    return _("Please type a whole number between {min} and {max} (for example {example}).").format(**values)


def answer_from_text(item: Item, text: str) -> Value:
    """The answer for a typed message, or `InvalidAnswer` with a French message saying what is expected.

    number: `7`, ` 7 `, `7,5`, `7.5` (decimals only if allowed), optionally followed by the unit (`30 mg`);
    scale: a typed whole number 0–10 (patients type); yesno: "oui"/"non" in any case, with or without accents or
    final punctuation; text: stripped, not empty, at most `max_length` characters; single/multi: buttons only.
    """
    if item.type in ("number", "scale"):
        value = _parse_number(item, text)
        assert item.min is not None and item.max is not None
        if value is None or not (item.min <= value <= item.max):
            raise InvalidAnswer(_number_message(item))
        if isinstance(value, float) and (item.type == "scale" or not item.decimals):
            raise InvalidAnswer(_number_message(item))
        return value
    if item.type == "yesno":
        word = _fold(text).strip(_TRAILING_PUNCTUATION)
        if word in _TYPED_YES_NO:
            return _TYPED_YES_NO[word]
        raise InvalidAnswer(_('Please answer with the Yes or No button (or type "oui" or "non").'))
    if item.type == "text":
        value_text = text.strip()
        if not value_text or value_text in MARKERS:
            raise InvalidAnswer(_("Please type your answer."))
        assert item.max_length is not None
        if len(value_text) > item.max_length:
            raise InvalidAnswer(
                _("Your message is too long ({length} characters): please keep it to {max} characters at most.").format(
                    length=len(value_text), max=item.max_length
                )
            )
        return value_text
    raise InvalidAnswer(_("Please answer with the buttons below the question."))


# ---------------------------------------------------------------------------------------------------------------
# Showing answers back
# ---------------------------------------------------------------------------------------------------------------
def format_number(number: float) -> str:
    """French rendering of a number: 12,5 — 60 — 0,25 (at most 3 decimals, no trailing zeros)."""
    if isinstance(number, int) or float(number).is_integer():
        return str(int(number))
    text = f"{number:.3f}".rstrip("0").rstrip(".")
    return text.replace(".", ",")


def display_value(item: Item, value: Value) -> str:
    """French rendering of an answer: "7", "Oui", a choice label, "12,5 mg", "Passé", "Je ne sais pas"."""
    if value == SKIPPED:
        return _("Skipped")
    if value == UNKNOWN:
        return _("I don't know")
    if item.type == "yesno":
        return _("Yes") if value == _YES else _("No") if value == _NO else str(value)
    if item.type == "single":
        choice = item.choice(str(value))
        return choice.label if choice is not None else str(value)
    if item.type == "multi":
        ticked = set(value) if isinstance(value, list) else {str(value)}
        return ", ".join(c.label for c in item.choices or () if c.code in ticked)
    if item.type in ("number", "scale") and _is_number(value):
        shown = format_number(value)  # type: ignore[arg-type]  # _is_number(value) guarantees a number; mypy cannot narrow through the helper
        return f"{shown} {item.unit}" if item.unit else shown
    return str(value)


def _short_label(item: Item) -> str:
    if item.short:
        return item.short
    text = " ".join(item.text.split())
    return text if len(text) <= 40 else text[:39].rstrip() + "…"


def answer_line(q: Questionnaire, item_id: str, value: Value) -> str | None:
    """ "short label: answer" for one of `q`'s items, as the clinicians read it (None if `q` has no such item)."""
    try:
        item = q.item(item_id)
    except KeyError:
        return None
    return _("{label}: {value}").format(label=_short_label(item), value=display_value(item, value))


def summary_lines(q: Questionnaire, answers: Mapping[str, Value]) -> list[str]:
    """One "label : answer" line per visible answered item, in asking order, for the end-of-questionnaire recap.

    Free text is cut to a preview (the full text is stored and sent to the team).
    """
    lines = []
    for item in visible_items(q, answers):
        if item.id not in answers:
            continue
        shown = display_value(item, answers[item.id])
        if item.type == "text" and len(shown) > _SUMMARY_TEXT_MAX:
            shown = shown[: _SUMMARY_TEXT_MAX - 1].rstrip() + "…"
        lines.append(_("{label}: {value}").format(label=_short_label(item), value=shown))
    return lines
