"""Sending questions to a patient and remembering which message shows the current question."""

from __future__ import annotations

from telegram import Bot, Message
from telegram.error import BadRequest

from bot.services import answering
from bot.services.answering import Prompt
from bot.services.container import Services
from bot.telegram.keyboards import question_keyboard
from bot.telegram.rendering import question_text


async def send_prompt(
    bot: Bot, services: Services, chat_id: int, prompt: Prompt, *, header: str | None = None,
    replaces_previous: bool = False,
) -> Message:
    """Send the current question with its buttons and record its message id.

    A `header` (new questionnaire, reminder) goes in the same message: one message per patient per send keeps the
    bot inside Telegram's "about one message per second per chat" and halves the fan-out at a busy minute.
    `replaces_previous` (reminder, /reprendre): the earlier copy of the question loses its buttons, so only one
    keyboard is live for an item.
    """
    previous = prompt.instance.question_message_id
    if replaces_previous and previous is not None:
        try:
            await bot.edit_message_reply_markup(chat_id, previous, reply_markup=None)
        except BadRequest:  # already without buttons, or deleted: nothing to tidy
            pass
    text = question_text(prompt)
    message = await bot.send_message(
        chat_id,
        f"{header}\n\n{text}" if header else text,
        reply_markup=question_keyboard(
            prompt.instance.id, prompt.item_index, prompt.item, selection=prompt.selection,
            can_go_back=prompt.can_go_back,
        ),
    )
    await answering.remember_question_message(services, prompt.instance.id, message.message_id)
    return message
