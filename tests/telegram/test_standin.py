"""The Bot API stand-in, driven by the real python-telegram-bot over real HTTP (nothing of PTB is mocked)."""

from __future__ import annotations

import asyncio
import datetime as dtm
import re
import struct
import time
import zlib
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
from telegram import Bot, InlineKeyboardButton, InlineKeyboardMarkup, Update
from telegram.error import (
    BadRequest,
    ChatMigrated,
    Conflict,
    EndPointNotFound,
    Forbidden,
    InvalidToken,
    NetworkError,
    RetryAfter,
    TimedOut,
)
from telegram.ext import (
    Application,
    CallbackQueryHandler,
    ChatMemberHandler,
    CommandHandler,
    ContextTypes,
    MessageHandler,
    filters,
)
from telegram.request import HTTPXRequest

from bot.clock import VirtualClock
from bot.standin import FloodLimits, StandIn
from bot.standin.limits import FloodControl

PATIENT = 42
GROUP = -1001


def keyboard(*pairs: tuple[str, str]) -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup([[InlineKeyboardButton(text, callback_data=data)] for text, data in pairs])


def said(description: str) -> str:
    """A pattern for an error description as PTB re-cases it ("Bad Request: BUTTON_DATA_INVALID" → "Button_data_invalid")."""
    return "(?i)" + re.escape(description)


def seconds(value: int | dtm.timedelta) -> float:
    return value.total_seconds() if isinstance(value, dtm.timedelta) else float(value)


def tiny_png(width: int = 3, height: int = 2) -> bytes:
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    pixels = zlib.compress(b"".join(b"\x00" + b"\xff\x00\x00" * width for _ in range(height)))
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", pixels) + chunk(b"IEND", b"")


@pytest.fixture
async def standin() -> AsyncIterator[StandIn]:
    async with StandIn() as server:
        server.add_private_chat(PATIENT, "Marie", "marie_d")
        server.add_group(GROUP, "Équipe soins de support")
        yield server


@pytest.fixture
async def bot(standin: StandIn) -> AsyncIterator[Bot]:
    async with Bot(standin.token, base_url=standin.base_url, base_file_url=standin.base_file_url) as client:
        yield client


async def start_polling(app: Application) -> None:  # type: ignore[type-arg]
    await app.initialize()
    await app.start()
    assert app.updater is not None
    await app.updater.start_polling(poll_interval=0, timeout=1)


async def stop_polling(app: Application) -> None:  # type: ignore[type-arg]
    assert app.updater is not None
    await app.updater.stop()
    await app.stop()
    await app.shutdown()


# --- basics ---------------------------------------------------------------------------------------------------


async def test_get_me_describes_the_test_bot(bot: Bot) -> None:
    me = await bot.get_me()
    assert (me.id, me.is_bot, me.username) == (123, True, "spinal_pro_test_bot")
    assert me.can_join_groups is True


async def test_an_unknown_token_is_unauthorized(standin: StandIn) -> None:
    with pytest.raises(InvalidToken):
        async with Bot("999:WRONG", base_url=standin.base_url):
            pass
    assert standin.requests("getMe")[-1].status == 401


async def test_a_sent_message_is_stored_and_returned_as_telegram_would(bot: Bot, standin: StandIn) -> None:
    sent = await bot.send_message(
        PATIENT,
        "Bonjour Marie",
        reply_markup=keyboard(("Oui", "q1:yes")),
        protect_content=True,
    )
    assert sent.text == "Bonjour Marie"
    assert sent.chat.id == PATIENT and sent.chat.first_name == "Marie"
    assert sent.from_user is not None and sent.from_user.id == 123
    assert sent.reply_markup == keyboard(("Oui", "q1:yes"))
    assert sent.has_protected_content is True
    stored = standin.last_message(PATIENT)
    assert stored is not None
    assert (stored.message_id, stored.raw_text, stored.parse_mode) == (sent.message_id, "Bonjour Marie", None)
    assert stored.callback_data("Oui") == "q1:yes"
    request = standin.requests("sendMessage", chat_id=PATIENT)[-1]
    assert request.params["chat_id"] == PATIENT
    assert request.params["reply_markup"] == {"inline_keyboard": [[{"text": "Oui", "callback_data": "q1:yes"}]]}


async def test_message_ids_increase_per_chat_and_dates_follow_the_stand_in_clock(bot: Bot, standin: StandIn) -> None:
    clock = VirtualClock(dtm.datetime(2030, 1, 15, 8, 0, tzinfo=dtm.UTC))
    standin.set_clock(clock)
    first = await bot.send_message(PATIENT, "un")
    clock.advance(dtm.timedelta(days=30))
    second = await bot.send_message(PATIENT, "deux")
    in_group = await bot.send_message(GROUP, "alerte")
    assert (first.message_id, second.message_id, in_group.message_id) == (1, 2, 1)
    assert first.date == dtm.datetime(2030, 1, 15, 8, 0, tzinfo=dtm.UTC)
    assert second.date == dtm.datetime(2030, 2, 14, 8, 0, tzinfo=dtm.UTC)


async def test_editing_text_keeps_the_history_and_drops_a_keyboard_not_repeated(bot: Bot, standin: StandIn) -> None:
    sent = await bot.send_message(PATIENT, "Douleur ?", reply_markup=keyboard(("5", "p:5")))
    edited = await bot.edit_message_text("Douleur : 5/10", chat_id=PATIENT, message_id=sent.message_id)
    assert isinstance(edited, type(sent)) and edited.edit_date is not None
    stored = standin.last_message(PATIENT)
    assert stored is not None
    assert (stored.text, stored.edited, stored.buttons()) == ("Douleur : 5/10", True, [])
    assert [(e.text, e.reply_markup) for e in stored.history] == [
        ("Douleur ?", {"inline_keyboard": [[{"text": "5", "callback_data": "p:5"}]]})
    ]
    with pytest.raises(ValueError, match="no button"):
        standin.press_button(PATIENT, PATIENT, sent.message_id, "p:5")


async def test_editing_the_markup_alone_replaces_the_keyboard(bot: Bot, standin: StandIn) -> None:
    sent = await bot.send_message(PATIENT, "Douleur ?", reply_markup=keyboard(("5", "p:5")))
    await bot.edit_message_reply_markup(PATIENT, sent.message_id, reply_markup=keyboard(("6", "p:6")))
    stored = standin.last_message(PATIENT)
    assert stored is not None and stored.button_texts() == ["6"] and stored.text == "Douleur ?"


async def test_an_identical_edit_is_not_modified(bot: Bot) -> None:
    sent = await bot.send_message(PATIENT, "Merci", reply_markup=keyboard(("OK", "ok")))
    with pytest.raises(BadRequest, match=said("message is not modified")):
        await bot.edit_message_text(
            "Merci", chat_id=PATIENT, message_id=sent.message_id, reply_markup=keyboard(("OK", "ok"))
        )
    with pytest.raises(BadRequest, match=said("message is not modified")):
        await bot.edit_message_reply_markup(PATIENT, sent.message_id, reply_markup=keyboard(("OK", "ok")))


async def test_editing_or_deleting_an_unknown_message_is_refused(bot: Bot) -> None:
    with pytest.raises(BadRequest, match=said("message to edit not found")):
        await bot.edit_message_text("x", chat_id=PATIENT, message_id=99)
    with pytest.raises(BadRequest, match=said("message to delete not found")):
        await bot.delete_message(PATIENT, 99)


async def test_a_deleted_message_leaves_the_current_state(bot: Bot, standin: StandIn) -> None:
    first = await bot.send_message(PATIENT, "un")
    await bot.send_message(PATIENT, "deux")
    assert await bot.delete_message(PATIENT, first.message_id) is True
    assert [m.text for m in standin.sent_messages(PATIENT)] == ["deux"]
    assert await bot.pin_chat_message(PATIENT, 2) is True
    chat = await bot.get_chat(PATIENT)
    assert chat.pinned_message is not None and chat.pinned_message.text == "deux"


# --- validation -----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "parse_mode", "error"),
    [
        ("   ", None, "Message text is empty"),
        ("a" * 4097, None, "Message is too long"),
        ("😀" * 2049, None, "Message is too long"),  # 4098 UTF-16 code units
        ("1 < 2 *fin.", None, None),  # plain text: nothing is parsed
        ("<b>gras</b>", "HTML", "Unsupported parse_mode"),  # the bot sends plain text only
        ("*gras*", "MarkdownV2", "Unsupported parse_mode"),
    ],
)
async def test_text_is_validated_as_telegram_does(
    bot: Bot, text: str, parse_mode: str | None, error: str | None
) -> None:
    if error is None:
        await bot.send_message(PATIENT, text, parse_mode=parse_mode)
    else:
        with pytest.raises(BadRequest, match=said(error)):
            await bot.send_message(PATIENT, text, parse_mode=parse_mode)


async def test_exactly_4096_utf16_units_is_accepted_and_a_refused_message_is_not_stored(
    bot: Bot, standin: StandIn
) -> None:
    await bot.send_message(PATIENT, "😀" * 2048)
    with pytest.raises(BadRequest):
        await bot.send_message(PATIENT, "x" * 4097)
    assert [m.message_id for m in standin.sent_messages(PATIENT)] == [1]


async def test_callback_data_is_limited_to_64_bytes_not_characters(bot: Bot) -> None:
    await bot.send_message(PATIENT, "ok", reply_markup=keyboard(("Oui", "é" * 32)))
    with pytest.raises(BadRequest, match=said("BUTTON_DATA_INVALID")):
        await bot.send_message(PATIENT, "trop long", reply_markup=keyboard(("Oui", "é" * 33)))


async def test_a_caption_over_1024_characters_is_refused(bot: Bot) -> None:
    with pytest.raises(BadRequest, match=said("message caption is too long")):
        await bot.send_photo(PATIENT, tiny_png(), caption="x" * 1025)


async def test_a_json_body_is_accepted_and_a_button_without_text_is_refused(standin: StandIn) -> None:
    url = f"{standin.base_url}{standin.token}/sendMessage"
    async with aiohttp.ClientSession() as session:
        good = {
            "chat_id": PATIENT,
            "text": "json",
            "reply_markup": {"inline_keyboard": [[{"text": "A", "callback_data": "a"}]]},
        }
        async with session.post(url, json=good) as response:
            body = await response.json()
        assert response.status == 200 and body["ok"] is True and body["result"]["text"] == "json"
        bad = {"chat_id": PATIENT, "text": "json", "reply_markup": {"inline_keyboard": [[{"callback_data": "a"}]]}}
        async with session.post(url, json=bad) as response:
            body = await response.json()
    assert response.status == 400
    assert body == {
        "ok": False,
        "error_code": 400,
        "description": 'Bad Request: can\'t parse inline keyboard button: Field "text" must be of type String',
    }


async def test_an_unknown_or_already_answered_callback_query_is_too_old(bot: Bot, standin: StandIn) -> None:
    sent = await bot.send_message(PATIENT, "?", reply_markup=keyboard(("Oui", "yes")))
    query_id = standin.press_button(PATIENT, PATIENT, sent.message_id, "yes")
    assert await bot.answer_callback_query(query_id, text="Noté") is True
    assert standin.callback_answer(query_id) == {"text": "Noté", "show_alert": False, "url": None, "cache_time": None}
    with pytest.raises(BadRequest, match=said("query is too old and response timeout expired or query ID is invalid")):
        await bot.answer_callback_query(query_id)
    with pytest.raises(BadRequest, match=said("query is too old and response timeout expired or query ID is invalid")):
        await bot.answer_callback_query("123456")


async def test_an_unseen_chat_is_not_found_and_a_blocked_one_is_forbidden(bot: Bot, standin: StandIn) -> None:
    with pytest.raises(BadRequest, match=said("chat not found")):
        await bot.send_message(7777, "bonjour")
    update = standin.block_chat(PATIENT)
    assert update is not None and update["my_chat_member"]["new_chat_member"]["status"] == "kicked"
    with pytest.raises(Forbidden, match=said("bot was blocked by the user")):
        await bot.send_message(PATIENT, "bonjour")
    standin.unblock_chat(PATIENT, notify=False)
    await bot.send_message(PATIENT, "de retour")


async def test_a_bot_that_left_a_group_cannot_post_there(bot: Bot) -> None:
    assert await bot.leave_chat(GROUP) is True
    with pytest.raises(Forbidden, match=said("not a member")):
        await bot.send_message(GROUP, "alerte")
    with pytest.raises(BadRequest, match=said("private chats")):
        await bot.leave_chat(PATIENT)


async def test_a_migrated_group_raises_chat_migrated_with_the_new_id(bot: Bot, standin: StandIn) -> None:
    standin.add_group(-555, "Ancien groupe")
    updates = standin.migrate_group(-555, -1005550000)
    assert updates[0]["message"]["migrate_to_chat_id"] == -1005550000
    assert updates[1]["message"]["migrate_from_chat_id"] == -555
    with pytest.raises(ChatMigrated) as caught:
        await bot.send_message(-555, "alerte")
    assert caught.value.new_chat_id == -1005550000
    assert (await bot.send_message(-1005550000, "alerte")).chat.type == "supergroup"


async def test_an_unknown_method_answers_404_and_is_recorded(bot: Bot, standin: StandIn) -> None:
    with pytest.raises(EndPointNotFound):
        await bot.do_api_request("sendHologram", api_kwargs={"chat_id": PATIENT})
    [request] = standin.requests("sendHologram")
    assert (request.status, request.description) == (404, "Not Found: method not found")
    assert standin.stats.unknown_methods == 1


async def test_commands_are_kept_per_scope_and_language(bot: Bot) -> None:
    from telegram import BotCommand

    assert await bot.set_my_commands([BotCommand("start", "Commencer"), BotCommand("aide", "Aide")]) is True
    assert [c.command for c in await bot.get_my_commands()] == ["start", "aide"]
    assert await bot.get_my_commands(language_code="en") == ()
    with pytest.raises(BadRequest, match=said("BOT_COMMAND_INVALID")):
        await bot.set_my_commands([BotCommand("Démarrer", "x")])
    assert await bot.delete_my_commands() is True
    assert await bot.get_my_commands() == ()


# --- faults ---------------------------------------------------------------------------------------------------


async def test_a_rate_limit_raises_retry_after_with_the_delay(bot: Bot, standin: StandIn) -> None:
    standin.rate_limit_next(1, retry_after=7, method="sendMessage")
    with pytest.raises(RetryAfter) as caught:
        await bot.send_message(PATIENT, "x")
    assert seconds(caught.value.retry_after) == 7
    await bot.send_message(PATIENT, "x")
    assert standin.stats.rate_limited == 1


async def test_a_server_error_is_a_network_error_and_only_hits_the_named_method(bot: Bot, standin: StandIn) -> None:
    standin.fail_next(2, method="sendMessage")
    await bot.get_me()
    with pytest.raises(NetworkError, match=said("Internal Server Error")):
        await bot.send_message(PATIENT, "x")
    with pytest.raises(NetworkError):
        await bot.send_message(PATIENT, "x")
    await bot.send_message(PATIENT, "x")
    assert [r.status for r in standin.requests("sendMessage")] == [500, 500, 200]


async def test_a_dropped_connection_is_a_network_error(bot: Bot, standin: StandIn) -> None:
    standin.drop_next(1)
    with pytest.raises(NetworkError) as caught:
        await bot.send_message(PATIENT, "x")
    assert not isinstance(caught.value, TimedOut)
    assert standin.requests("sendMessage")[0].fault == "drop"
    assert standin.sent_messages(PATIENT) == []


async def test_a_held_request_times_out_and_may_still_have_been_delivered(standin: StandIn) -> None:
    request = HTTPXRequest(read_timeout=0.2)
    async with Bot(standin.token, base_url=standin.base_url, request=request) as impatient:
        standin.timeout_next(1, method="sendMessage", seconds=3, deliver=True)
        started = time.monotonic()
        with pytest.raises(TimedOut):
            await impatient.send_message(PATIENT, "rappel")
        assert time.monotonic() - started < 1.5
    assert [m.text for m in standin.sent_messages(PATIENT)] == ["rappel"]


async def test_faults_reach_get_updates_only_when_named(bot: Bot, standin: StandIn) -> None:
    standin.fail_next(1)
    standin.fail_next(1, method="getUpdates", status=502)
    with pytest.raises(NetworkError, match=said("Internal Server Error")):
        await bot.get_updates(timeout=0)
    assert await bot.get_updates(timeout=0) == ()
    with pytest.raises(NetworkError):
        await bot.send_message(PATIENT, "x")
    assert [(r.method, r.status) for r in standin.requests()][-3:] == [
        ("getUpdates", 502),
        ("getUpdates", 200),
        ("sendMessage", 500),
    ]


async def test_a_delay_slows_every_send(bot: Bot, standin: StandIn) -> None:
    standin.set_delay(0.2)
    started = time.monotonic()
    await bot.send_message(PATIENT, "x")
    assert time.monotonic() - started >= 0.2


async def test_flood_control_answers_429_beyond_a_short_private_burst() -> None:
    now = [1000.0]
    async with StandIn(enforce_limits=True, monotonic=lambda: now[0]) as server:
        server.add_private_chat(PATIENT, "Marie")
        async with Bot(server.token, base_url=server.base_url) as client:
            for _ in range(FloodLimits().private_burst):
                await client.send_message(PATIENT, "x")
            with pytest.raises(RetryAfter) as caught:
                await client.send_message(PATIENT, "x")
            assert seconds(caught.value.retry_after) >= 1
            now[0] += 1.0
            await client.send_message(PATIENT, "x")
        assert server.stats.flood_limited == 1 and server.stats.rate_limited == 1


def test_flood_control_allows_20_messages_a_minute_to_a_group_and_30_a_second_overall() -> None:
    flood = FloodControl()
    assert all(flood.retry_after(GROUP, private=False, now=0.0 + i) is None for i in range(20))
    assert flood.retry_after(GROUP, private=False, now=20.0) == 40
    assert flood.retry_after(GROUP, private=False, now=60.0) is None
    overall = FloodControl()
    assert all(overall.retry_after(chat, private=True, now=5.0) is None for chat in range(30))
    assert overall.retry_after(99, private=True, now=5.5) == 1


# --- files ----------------------------------------------------------------------------------------------------


async def test_a_multipart_photo_upload_is_stored_and_downloadable(bot: Bot, standin: StandIn) -> None:
    png = tiny_png(3, 2)
    sent = await bot.send_photo(PATIENT, png, caption="Douleur sur 30 jours", filename="douleur.png")
    assert sent.caption == "Douleur sur 30 jours"
    photo = sent.photo[-1]
    assert (photo.width, photo.height, photo.file_size) == (3, 2, len(png))
    assert standin.get_file_bytes(photo.file_id) == png
    assert standin.last_message(PATIENT).photo_file_id == photo.file_id  # type: ignore[union-attr]
    assert standin.requests("sendPhoto")[0].params["photo"]["size"] == len(png)
    downloaded = await (await bot.get_file(photo.file_id)).download_as_bytearray()
    assert bytes(downloaded) == png


async def test_a_document_upload_keeps_its_name_and_bytes(bot: Bot, standin: StandIn) -> None:
    sent = await bot.send_document(GROUP, b"%PDF-1.4 rapport", filename="rapport.pdf")
    assert sent.document is not None and sent.document.file_name == "rapport.pdf"
    assert standin.get_file_bytes(sent.document.file_id) == b"%PDF-1.4 rapport"
    resent = await bot.send_document(PATIENT, sent.document.file_id)
    assert resent.document is not None and resent.document.file_id == sent.document.file_id


# --- updates --------------------------------------------------------------------------------------------------


async def test_long_polling_returns_as_soon_as_an_update_is_injected_and_offset_confirms(
    bot: Bot, standin: StandIn
) -> None:
    started = time.monotonic()
    poll = asyncio.create_task(bot.get_updates(timeout=5))
    await asyncio.sleep(0.1)
    standin.send_text(PATIENT, PATIENT, "bonjour")
    [update] = await poll
    assert time.monotonic() - started < 2
    assert update.message is not None and update.message.text == "bonjour"
    assert standin.pending_updates == 1
    assert await bot.get_updates(offset=update.update_id + 1, timeout=0) == ()
    assert standin.pending_updates == 0


async def test_a_second_poller_terminates_the_first_with_conflict(bot: Bot, standin: StandIn) -> None:
    first = asyncio.create_task(bot.get_updates(timeout=3))
    await asyncio.sleep(0.1)
    async with Bot(standin.token, base_url=standin.base_url) as second_instance:
        assert await second_instance.get_updates(timeout=0) == ()
    with pytest.raises(Conflict, match=said("terminated by other getUpdates request")):
        await first


async def test_wait_for_request_names_what_was_seen_when_it_times_out(bot: Bot, standin: StandIn) -> None:
    await bot.send_chat_action(PATIENT, "typing")
    with pytest.raises(AssertionError, match=r"expected 1 sendMessage to chat 42 .*sendChatAction\[200\]"):
        await standin.wait_for_request("sendMessage", chat_id=PATIENT, timeout=0.1)


async def test_wait_idle_fails_while_nobody_fetches_the_injected_updates(standin: StandIn) -> None:
    standin.send_text(PATIENT, PATIENT, "allô ?")
    with pytest.raises(AssertionError, match=r"1 update\(s\) unconfirmed"):
        await standin.wait_idle(timeout=0.1)


async def test_an_application_receives_text_command_button_and_sticker(standin: StandIn) -> None:
    seen: list[tuple[str, Any]] = []

    async def on_start(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        seen.append(("start", context.args))
        assert update.effective_message is not None
        await update.effective_message.reply_text("Bienvenue", reply_markup=keyboard(("Oui", "consent:yes")))

    async def on_text(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        assert update.effective_message is not None
        seen.append(("text", update.effective_message.text))

    async def on_button(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        query = update.callback_query
        assert query is not None
        await query.answer("Noté")
        seen.append(("button", query.data))
        await query.edit_message_text("Merci")

    async def on_sticker(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        assert update.effective_message is not None and update.effective_message.sticker is not None
        seen.append(("sticker", update.effective_message.sticker.emoji))

    app = Application.builder().token(standin.token).base_url(standin.base_url).build()
    app.add_handler(CommandHandler("start", on_start))
    app.add_handler(MessageHandler(filters.TEXT & ~filters.COMMAND, on_text))
    app.add_handler(CallbackQueryHandler(on_button))
    app.add_handler(MessageHandler(filters.Sticker.ALL, on_sticker))
    await start_polling(app)
    try:
        standin.send_command(PATIENT, PATIENT, "start", "ABC123")
        await standin.wait_for_request("sendMessage", chat_id=PATIENT)
        standin.send_text(PATIENT, PATIENT, "J'ai mal au dos")
        welcome = standin.last_message(PATIENT)
        assert welcome is not None
        query_id = standin.press_button(PATIENT, PATIENT, welcome.message_id, welcome.callback_data("Oui"))
        standin.send_sticker(PATIENT, PATIENT, "😀")
        await standin.wait_for_request("editMessageText", chat_id=PATIENT)
        await standin.wait_idle()
    finally:
        await stop_polling(app)
    assert seen == [("start", ["ABC123"]), ("text", "J'ai mal au dos"), ("button", "consent:yes"), ("sticker", "😀")]
    assert standin.callback_answer(query_id) is not None
    final = standin.last_message(PATIENT)
    assert final is not None and (final.text, final.buttons()) == ("Merci", [])
    assert standin.pending_updates == 0


async def test_an_application_sees_the_bot_added_to_a_group_and_addressed_commands(standin: StandIn) -> None:
    seen: list[str] = []

    async def on_member(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        assert update.my_chat_member is not None
        seen.append(f"bot is {update.my_chat_member.new_chat_member.status}")

    async def on_help(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        assert update.effective_chat is not None
        seen.append(f"help in {update.effective_chat.id}")
        await context.bot.send_message(update.effective_chat.id, "Aide")

    app = Application.builder().token(standin.token).base_url(standin.base_url).build()
    app.add_handler(ChatMemberHandler(on_member, ChatMemberHandler.MY_CHAT_MEMBER))
    app.add_handler(CommandHandler("aide", on_help))
    standin.add_group(-2002, "Oncologie")
    await start_polling(app)
    try:
        standin.bot_added_to_group(-2002, by_user_id=7)
        standin.send_text(-2002, 7, "/aide@other_bot")
        standin.send_text(-2002, 7, "/aide@spinal_pro_test_bot")
        await standin.wait_for_request("sendMessage", chat_id=-2002)
        await standin.wait_idle()
    finally:
        await stop_polling(app)
    assert seen == ["bot is member", "help in -2002"]
