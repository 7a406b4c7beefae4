"""Showing a patient their current question, through the messenger port, and remembering which message shows it."""

from __future__ import annotations

from bot.domain.prompt import Prompt
from bot.messenger import Messenger, TryLater
from bot.services import answering
from bot.services.container import Services


async def send_prompt(
    messenger: Messenger,
    services: Services,
    chat_id: int,
    prompt: Prompt,
    *,
    header: str | None = None,
    replaces_previous: bool = False,
) -> int:
    """Send the current question with its buttons, record its message id and return it.

    A `header` (new questionnaire, reminder) goes in the same message: one message per patient per send keeps the
    bot inside Telegram's "about one message per second per chat" and halves the fan-out at a busy minute.
    `replaces_previous` (reminder, /reprendre): the earlier copy of the question loses its buttons, so only one
    keyboard is live for an item.
    """
    previous = prompt.instance.question_message_id
    if replaces_previous and previous is not None:
        try:
            await messenger.edit(chat_id, previous)
        except TryLater as exc:  # refused: already without buttons, or deleted — nothing to tidy
            if not exc.refused:
                raise
    message_id = await messenger.send_question(chat_id, prompt, header=header)
    await answering.remember_question_message(services, prompt.instance.id, message_id)
    return message_id
