"""The driver side: the fake Telegram (stand-in) and simulated patients who react as soon as the bot writes.

A patient presses the next button the moment the bot's next question arrives. To react without polling, the
`Observer` wraps the stand-in's sendMessage/editMessageText implementations (its public `api.methods` table) and
resolves a future per chat when the bot's call has been served. Timings are not taken from those wake-ups but from
the stand-in's request records (`Request.time`, stamped when the bot's HTTP request arrives), on the same
`BenchClock` time line as the injections.
"""

from __future__ import annotations

import asyncio
from bisect import bisect_left
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from benchmarks.botproc import CLINICIAN_CHAT, TOKEN, BotSpec
from benchmarks.clock import BenchClock
from benchmarks.policy import Action, action_for_message, callback_data, toggle_data
from bot.domain.questionnaire import Questionnaire
from bot.standin import Request, StandIn
from bot.telegram.keyboards import VALIDATE

#: Calls a simulated patient may wait for.
OBSERVED = ("sendMessage", "editMessageText", "editMessageReplyMarkup")
#: How long a patient waits for the bot before the run is declared broken.
REPLY_TIMEOUT = 60.0

Message = dict[str, Any]


class Observer:
    """Futures resolved when the bot's sendMessage or edit into a chat has been served."""

    def __init__(self, standin: StandIn) -> None:
        self._waiters: dict[tuple[str, int], list[asyncio.Future[Message]]] = defaultdict(list)
        for method in OBSERVED:
            original = standin.api.methods[method]
            standin.api.methods[method] = self._wrap(method, original)

    def _wrap(self, method: str, original: Callable[[dict[str, Any]], Any]) -> Callable[[dict[str, Any]], Any]:
        def observed(params: dict[str, Any]) -> Any:
            result = original(params)
            if isinstance(result, dict) and "chat" in result:
                for future in self._waiters.pop((method, int(result["chat"]["id"])), []):
                    if not future.done():
                        future.set_result(result)
            return result

        return observed

    def expect(self, method: str, chat_id: int) -> asyncio.Future[Message]:
        """A future for the bot's next `method` into `chat_id` (register BEFORE causing it)."""
        future: asyncio.Future[Message] = asyncio.get_running_loop().create_future()
        self._waiters[(method, chat_id)].append(future)
        return future


class Rig:
    """The stand-in on loopback, the clinicians' group, the patients' private chats, the observer."""

    def __init__(self, clock: BenchClock, *, enforce_limits: bool = False) -> None:
        self.clock = clock
        self.standin = StandIn(TOKEN, clock=clock.timestamp, enforce_limits=enforce_limits)
        self.observer = Observer(self.standin)

    async def __aenter__(self) -> Rig:
        await self.standin.start()
        self.standin.add_group(CLINICIAN_CHAT, "Équipe soignante (benchmark)", type="supergroup")
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.standin.stop()

    def add_patients(self, user_ids: Iterable[int]) -> None:
        for user_id in user_ids:
            self.standin.add_private_chat(user_id, first_name="Patient")

    def spec(self, kind: str, database: str, **options: Any) -> BotSpec:
        return BotSpec(
            kind=kind,
            database=database,
            base_url=self.standin.base_url,
            clock_start=self.clock.start.timestamp(),
            clock_origin=self.clock.origin,
            **options,
        )

    def last_question(self, chat_id: int, after: int = 0) -> Message | None:
        """The bot's latest message with buttons in the chat (newer than message `after`), as a Telegram Message."""
        for message in reversed(self.standin.sent_messages(chat_id)):
            if message.message_id <= after:
                return None
            if message.buttons():
                return message.to_api()
        return None

    def last_message_ids(self, chat_ids: list[int]) -> dict[int, int]:
        return {c: max((m.message_id for m in self.standin.messages(c)), default=0) for c in chat_ids}

    async def wait_for_questions(
        self, chat_ids: list[int], timeout: float, after: dict[int, int] | None = None
    ) -> dict[int, Message]:
        """Wait until every chat shows a question (newer than `after[chat]`); return it per chat."""
        after = after or {}

        def shown() -> dict[int, Message | None]:
            return {c: self.last_question(c, after.get(c, 0)) for c in chat_ids}

        await self.standin.wait_for(lambda: all(m is not None for m in shown().values()), timeout)
        return {c: m for c, m in shown().items() if m is not None}


def keyboard(message: Message) -> list[list[dict[str, Any]]]:
    return list(message.get("reply_markup", {}).get("inline_keyboard", []))


@dataclass
class Patient:
    """One simulated patient in their private chat."""

    rig: Rig
    chat_id: int
    questionnaire: Questionnaire
    #: how long to wait for the bot's reply before declaring the run broken (a crowd waits longer)
    timeout: float = REPLY_TIMEOUT
    injected: list[float] = field(default_factory=list)

    async def step(
        self, message: Message, override: Callable[[Action], Action] | None = None
    ) -> tuple[Action, Message]:
        """Answer the question shown in `message`; return the gesture and the bot's next sendMessage."""
        instance_id, action = action_for_message(self.questionnaire, keyboard(message))
        if override is not None:
            action = override(action)
        index = self.questionnaire.items.index(action.item)
        standin, observer = self.rig.standin, self.rig.observer
        message_id = int(message["message_id"])
        if action.kind == "select":  # tick the choice (the bot edits the keyboard), then confirm
            edited = observer.expect("editMessageReplyMarkup", self.chat_id)
            standin.press_button(self.chat_id, self.chat_id, message_id, toggle_data(instance_id, index, action.code))
            await asyncio.wait_for(edited, self.timeout)
        reply = observer.expect("sendMessage", self.chat_id)
        self.injected.append(self.rig.clock.timestamp())
        if action.kind == "select":
            standin.press_button(self.chat_id, self.chat_id, message_id, toggle_data(instance_id, index, VALIDATE))
        elif action.kind == "press":
            standin.press_button(self.chat_id, self.chat_id, message_id, callback_data(instance_id, index, action))
        else:
            standin.send_text(self.chat_id, self.chat_id, action.text)
        return action, await asyncio.wait_for(reply, self.timeout)

    async def answer(
        self, message: Message, steps: int, think: Callable[[], float] | None = None, *, join: float = 0.0
    ) -> Message:
        """Answer `steps` questions in a row — as soon as each arrives, or after `think()` seconds of reading —
        and return the bot's last message. `join`: seconds before the patient picks up the phone at all (joins
        spread over a morning, issue 38)."""
        if join > 0:
            await asyncio.sleep(join)
        for _ in range(steps):
            if think is not None:
                await asyncio.sleep(think())
            _action, message = await self.step(message)
        return message


def response_latencies(records: list[Request], injected: dict[int, list[float]]) -> list[tuple[float, float]]:
    """(injection time, seconds to the bot's next accepted sendMessage into that chat), from the request records."""
    sends: dict[int, list[float]] = defaultdict(list)
    for record in records:
        if record.method == "sendMessage" and record.ok and record.chat_id is not None:
            sends[int(record.chat_id)].append(record.time)
    pairs: list[tuple[float, float]] = []
    for chat_id, times in injected.items():
        answered = sorted(sends.get(chat_id, []))
        for at in times:
            k = bisect_left(answered, at)
            if k == len(answered):
                raise AssertionError(f"chat {chat_id}: no sendMessage after the injection at {at}")
            pairs.append((at, answered[k] - at))
    return pairs
