"""The ceiling: a bare python-telegram-bot application doing the same HTTP calls as ours, and nothing else.

For every answer it answers the callback query, edits the question message (answer shown, keyboard removed) and
sends the next question — the three calls `bot.telegram.handlers.patient._after_submission` makes — with the same
PTB settings (concurrent_updates=16, no rate limiter, long polling). Questions and keyboards come from the same
questionnaire file through the product's pure keyboard builder, so payload sizes match. No database, no rules, no
audit: the difference with the real bot is the cost of doing the job properly.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from telegram import Bot, InlineKeyboardMarkup, Update
from telegram.ext import Application, ApplicationBuilder, CallbackQueryHandler, ContextTypes, MessageHandler, filters

from benchmarks.policy import answer_path
from bot.domain.questionnaire import Questionnaire
from bot.telegram.keyboards import VALIDATE, question_keyboard

#: The instance id the bare bot puts in its callback data (it has no instances).
BARE_INSTANCE = 1
SCRIPT_KEY = "bare_script"


@dataclass
class BareScript:
    """The questions of one benign path through a questionnaire, and where each chat is (in memory)."""

    questionnaire: Questionnaire
    steps: list[tuple[int, str]] = field(default_factory=list)  # (item index, text)
    position: dict[int, int] = field(default_factory=dict)  # chat id → step being asked
    question_message: dict[int, int] = field(default_factory=dict)  # chat id → its message id

    def __post_init__(self) -> None:
        path = answer_path(self.questionnaire)
        for k, action in enumerate(path, start=1):
            index = self.questionnaire.items.index(action.item)
            self.steps.append((index, f"Question {k} / {len(path)}\n\n{action.item.text}"))

    def keyboard(self, step: int) -> InlineKeyboardMarkup | None:
        index, _text = self.steps[step]
        item = self.questionnaire.items[index]
        return question_keyboard(BARE_INSTANCE, index, item, can_go_back=step > 0)

    async def send_step(self, application_bot: Bot, chat_id: int, step: int, header: str = "") -> None:
        self.position[chat_id] = step
        if step >= len(self.steps):
            await application_bot.send_message(
                chat_id, f"Merci, le questionnaire « {self.questionnaire.title} » est terminé."
            )
            return
        text = f"{header}\n\n{self.steps[step][1]}" if header else self.steps[step][1]
        message = await application_bot.send_message(chat_id, text, reply_markup=self.keyboard(step))
        self.question_message[chat_id] = message.message_id

    async def open(self, application_bot: Bot, chat_ids: list[int]) -> None:
        """What the dispatcher does at the due time: the first question under a short introduction."""
        for chat_id in chat_ids:
            header = f"Nouveau questionnaire : {self.questionnaire.title}"
            await self.send_step(application_bot, chat_id, 0, header=header)

    async def answered(self, application_bot: Bot, chat_id: int, value: str) -> None:
        step = self.position.get(chat_id, 0)
        if step < len(self.steps) and chat_id in self.question_message:
            await application_bot.edit_message_text(
                f"{self.steps[step][1]}\n\nVotre réponse : {value}",
                chat_id=chat_id,
                message_id=self.question_message[chat_id],
                reply_markup=None,
            )
        await self.send_step(application_bot, chat_id, step + 1)


async def _on_press(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    query = update.callback_query
    assert query is not None and query.message is not None
    script: BareScript = context.bot_data[SCRIPT_KEY]
    data = query.data or ""
    await query.answer()
    if data.startswith("m:") and not data.endswith(":" + VALIDATE):  # a tick: refresh the keyboard only
        step = script.position.get(query.message.chat.id, 0)
        await query.edit_message_reply_markup(reply_markup=script.keyboard(step))
        return
    await script.answered(context.bot, query.message.chat.id, data.rsplit(":", 1)[-1])


async def _on_text(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    message = update.effective_message
    assert message is not None
    script: BareScript = context.bot_data[SCRIPT_KEY]
    await script.answered(context.bot, message.chat_id, message.text or "")


def build_bare_application(*, token: str, base_url: str, questionnaire: Questionnaire) -> Application:
    """The ceiling application (same builder settings as `bot.telegram.app.build_application`, no rate limiter)."""
    application = ApplicationBuilder().token(token).base_url(base_url).concurrent_updates(16).build()
    application.bot_data[SCRIPT_KEY] = BareScript(questionnaire)
    application.add_handler(CallbackQueryHandler(_on_press))
    application.add_handler(MessageHandler(filters.TEXT & ~filters.COMMAND, _on_text))
    return application
