"""Sending questions to a patient and remembering which message shows the current question."""

from __future__ import annotations

from telegram import Bot, Message

from bot.services import answering
from bot.services.answering import Prompt
from bot.services.container import Services
from bot.telegram.keyboards import question_keyboard
from bot.telegram.rendering import question_text


async def send_prompt(bot: Bot, services: Services, chat_id: int, prompt: Prompt) -> Message:
    """Send the current question with its buttons and record its message id."""
    message = await bot.send_message(
        chat_id,
        question_text(prompt),
        reply_markup=question_keyboard(
            prompt.instance.id, prompt.item_index, prompt.item, selection=prompt.selection,
            can_go_back=prompt.can_go_back,
        ),
    )
    await answering.remember_question_message(services, prompt.instance.id, message.message_id)
    return message
