"""A photo of a medicine box while a product question is open (issue 37): the handlers around
`bot.services.medicine_photos` (decode → look up → "is it this medicine?" Yes / No)."""

from __future__ import annotations

import logging
import re

from telegram import InlineKeyboardButton, InlineKeyboardMarkup, Update
from telegram.error import TelegramError

from bot.delivery.advice_text import safety_line
from bot.i18n import _
from bot.services import answering, medicine_photos
from bot.services.prompting import send_prompt
from bot.telegram.context import BotContext

log = logging.getLogger(__name__)

#: Callback data of the Yes / No under "is this your medicine?": med:<scan id>:y|n.
MEDICINE = r"^med:(\d+):([yn])$"
PRESS = re.compile(MEDICINE)

#: Telegram's getFile downloads up to 20 MB (core.telegram.org/bots/api#getfile); a phone photo is far smaller.
MAX_PHOTO_BYTES = 20 * 1024 * 1024


def confirm_keyboard(scan_id: int) -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup(
        [
            [
                InlineKeyboardButton(_("Yes"), callback_data=f"med:{scan_id}:y"),
                InlineKeyboardButton(_("No"), callback_data=f"med:{scan_id}:n"),
            ]
        ]
    )


async def box_photo(update: Update, context: BotContext) -> bool:
    """Take a photo as a box photo when the open question asks for an opioid product; True when it was.

    A photo with a caption is the patient telling the team something: it goes the usual way (kept, passed on).
    """
    message = update.effective_message
    user = update.effective_user
    if message is None or user is None or not message.photo or message.caption or message.forward_origin:
        return False
    services = context.services
    patient, prompt = await answering.current_prompt(services, user.id)
    if patient is None or prompt is None or not medicine_photos.is_product_item(prompt.item, services.opioids):
        return False
    site = services.sites.get(patient.site_code)
    biggest = message.photo[-1]
    data = b""
    if biggest.file_size is None or biggest.file_size <= MAX_PHOTO_BYTES:
        try:
            data = bytes(await (await biggest.get_file()).download_as_bytearray())
        except TelegramError as exc:  # the photo cannot be fetched: decoded as "no code", the list follows
            log.info("box photo not downloaded (update %s): %s", update.update_id, type(exc).__name__)
    outcome = await medicine_photos.scan_photo(services, user.id, data, prompt)
    del data
    if outcome.status == "stale":
        _patient, current = await answering.current_prompt(services, user.id)
        if current is not None:
            await send_prompt(context.messenger, services, message.chat_id, current, replaces_previous=True)
        return True
    if outcome.status == "proposed" and outcome.scan_id is not None and outcome.display is not None:
        await message.reply_text(
            medicine_photos.confirm_text(outcome.display) + "\n" + medicine_photos.privacy_text(),
            reply_markup=confirm_keyboard(outcome.scan_id),
        )
        return True
    assert outcome.failure is not None
    header = (
        medicine_photos.failure_text(outcome.failure, outcome.display)
        + "\n"
        + medicine_photos.privacy_text()
        + "\n"
        + safety_line(site)
    )
    await send_prompt(context.messenger, services, message.chat_id, prompt, header=header, replaces_previous=True)
    return True
