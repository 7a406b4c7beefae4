"""How a simulated patient answers: benign answers, chosen from the question the bot shows.

The same policy fills the generated history (`population.py`), drives the patients of the load scenarios
(`driver.py`) and scripts the bare PTB application (`bare.py`), so all three walk the same path through a
questionnaire. Benign means no red flag, low pain, no new medicine: the load scenarios measure answering, not
alerting (the `alerts` scenario presses "yes" on a red flag on purpose).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

from bot.domain import engine
from bot.domain.questionnaire import SKIPPED, Item, Questionnaire

#: Answers that differ from the generic benign choice. "Treatment unchanged" keeps the diary short (the opioid
#: block is skipped), as it is for most patients on most days.
OVERRIDES: Mapping[str, str] = {"analgesic_same": "yes"}
#: A scale answer of 3/10: below every pain threshold of questionnaires/rules.yaml.
BENIGN_SCALE = "3"

_BUTTON = re.compile(r"^[qmb]:(\d+):(\d+)")


@dataclass(frozen=True)
class Action:
    """One patient gesture: press a button (`q:` data), tick then confirm (`multi`), or type a message."""

    kind: Literal["press", "select", "type"]
    item: Item
    code: str = ""
    text: str = ""

    def value(self) -> object:
        """The answer the bot stores for this gesture (computed by the product's own engine)."""
        if self.kind == "press":
            return engine.answer_from_button(self.item, self.code)
        if self.kind == "select":
            return engine.answer_from_selection(self.item, [self.code])
        return engine.answer_from_text(self.item, self.text)


def benign_action(item: Item) -> Action:
    """The gesture of a patient who is doing fine, for any item."""
    override = OVERRIDES.get(item.id)
    if item.type == "scale":
        return Action("press", item, code=override or BENIGN_SCALE)
    if item.type == "yesno":
        return Action("press", item, code=override or "no")
    if item.type == "single":
        return Action("press", item, code=override or item.choices[0].code)
    if item.type == "multi":
        return Action("select", item, code=override or item.choices[0].code)
    if item.optional:
        return Action("press", item, code=SKIPPED)
    if item.type == "number":
        return Action("type", item, text=engine.format_number(item.min if item.min is not None else 1))
    return Action("type", item, text="ok")


def answer_path(questionnaire: Questionnaire) -> list[Action]:
    """The gestures, in order, of a benign patient answering `questionnaire` to the end."""
    answers: dict[str, object] = {}
    path: list[Action] = []
    while (item := engine.next_item(questionnaire, answers)) is not None:
        if len(path) > len(questionnaire.items):
            raise RuntimeError(f"questionnaire {questionnaire.id} does not end on benign answers")
        action = benign_action(item)
        answers[item.id] = action.value()
        path.append(action)
    return path


def benign_answers(questionnaire: Questionnaire) -> dict[str, object]:
    """item id → stored value of a complete benign questionnaire (for generated history)."""
    return {action.item.id: action.value() for action in answer_path(questionnaire)}


def action_for_message(questionnaire: Questionnaire, keyboard: list[list[dict[str, object]]]) -> tuple[int, Action]:
    """Read the question's buttons (`q:<instance>:<item>:…`, or `b:`/`m:` for typed and multi items) → gesture.

    Returns the instance id and the gesture. The item index in callback_data is how the patient "knows" which
    question this is without reading the database.
    """
    for row in keyboard:
        for button in row:
            match = _BUTTON.match(str(button.get("callback_data", "")))
            if match:
                instance_id, index = int(match.group(1)), int(match.group(2))
                return instance_id, benign_action(questionnaire.items[index])
    raise ValueError(f"no question button to tell the item from: {keyboard}")


def callback_data(instance_id: int, index: int, action: Action) -> str:
    """The `q:` data of a press (the keyboard layout is the product's, see bot/telegram/keyboards.py)."""
    return f"q:{instance_id}:{index}:{action.code}"


def toggle_data(instance_id: int, index: int, code: str) -> str:
    """The `m:` data of a multi-choice toggle or of its confirmation (`_ok`)."""
    return f"m:{instance_id}:{index}:{code}"
