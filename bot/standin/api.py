"""The Bot API methods the stand-in implements, over the shared `World`, with Telegram's validation.

Each method takes the decoded parameters and returns the `result` Telegram would return, or raises `ApiError` with
Telegram's status and wording. No HTTP here (see `server.py`) and no waiting: getUpdates' long polling lives in the
server because it needs the event loop.
"""

from __future__ import annotations

import copy
import json
import struct
from collections.abc import Callable
from typing import Any

from bot.standin.errors import bad_request, forbidden
from bot.standin.limits import (
    MAX_CALLBACK_ANSWER_LENGTH,
    MAX_CAPTION_LENGTH,
    MAX_COMMAND_DESCRIPTION_LENGTH,
    MAX_COMMAND_LENGTH,
    MAX_TEXT_LENGTH,
    utf16_length,
)
from bot.standin.markup import PARSE_MODES, inline_keyboard, parse_reply_markup, plain_text
from bot.standin.state import Chat, ChatMessage, Edit, StoredFile, World
from bot.standin.wire import Upload

Params = dict[str, Any]
Method = Callable[[Params], Any]

#: sendChatAction `action` values (Bot API, sendChatAction).
CHAT_ACTIONS = frozenset(
    {
        "typing",
        "upload_photo",
        "record_video",
        "upload_video",
        "record_voice",
        "upload_voice",
        "upload_document",
        "choose_sticker",
        "find_location",
        "record_video_note",
        "upload_video_note",
    }
)

NOT_MODIFIED = (
    "message is not modified: specified new message content and reply markup are exactly the same as a current "
    "content and reply markup of the message"
)


def _int_param(params: Params, name: str, missing: str) -> int:
    value = params.get(name)
    if value is None or value == "":
        raise bad_request(missing)
    try:
        return int(value)
    except (TypeError, ValueError):
        raise bad_request(f"invalid {name} specified") from None


def _png_size(data: bytes) -> tuple[int, int]:
    """Width and height of a PNG (the bot's plots), (0, 0) for anything else."""
    if data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) >= 24:
        width, height = struct.unpack(">II", data[16:24])
        return int(width), int(height)
    return 0, 0


class BotApi:
    """Telegram's side of every implemented method except getUpdates."""

    def __init__(self, world: World, date: Callable[[], int]) -> None:
        self.world = world
        self._date = date
        self.methods: dict[str, Method] = {
            "getMe": self.get_me,
            "logOut": self._true,
            "close": self._true,
            "setWebhook": self.set_webhook,
            "deleteWebhook": self.delete_webhook,
            "getWebhookInfo": self.get_webhook_info,
            "setMyCommands": self.set_my_commands,
            "getMyCommands": self.get_my_commands,
            "deleteMyCommands": self.delete_my_commands,
            "sendMessage": self.send_message,
            "editMessageText": self.edit_message_text,
            "editMessageReplyMarkup": self.edit_message_reply_markup,
            "answerCallbackQuery": self.answer_callback_query,
            "sendPhoto": self.send_photo,
            "copyMessage": self.copy_message,
            "sendDocument": self.send_document,
            "sendChatAction": self.send_chat_action,
            "leaveChat": self.leave_chat,
            "getChat": self.get_chat,
            "deleteMessage": self.delete_message,
            "pinChatMessage": self.pin_chat_message,
            "getFile": self.get_file,
        }

    # --- chats -------------------------------------------------------------------------------------------------

    def known_chat(self, params: Params) -> Chat:
        """The chat named by `chat_id`, or 400 "chat not found" (Telegram knows only chats the bot has seen)."""
        raw = params.get("chat_id")
        if raw is None or raw == "":
            raise bad_request("chat_id is empty")
        if isinstance(raw, str) and raw.startswith("@"):
            for chat in self.world.chats.values():
                if chat.username and f"@{chat.username}" == raw:
                    return chat
            raise bad_request("chat not found")
        try:
            chat_id = int(raw)
        except (TypeError, ValueError):
            raise bad_request("chat not found") from None
        known = self.world.chats.get(chat_id)
        if known is None:
            raise bad_request("chat not found")
        return known

    def writable_chat(self, params: Params) -> Chat:
        """A chat the bot may post in now: migrated → 400 with migrate_to_chat_id, blocked/left → 403."""
        chat = self.known_chat(params)
        if chat.migrated_to is not None:
            raise bad_request("group chat was upgraded to a supergroup chat", {"migrate_to_chat_id": chat.migrated_to})
        if chat.blocked:
            raise forbidden("bot was blocked by the user")
        if not chat.bot_member:
            raise forbidden("bot is not a member of the group chat")
        return chat

    def _bot_message(self, chat: Chat, params: Params, message_id_param: str, verb: str) -> ChatMessage:
        message_id = _int_param(params, message_id_param, "message identifier is not specified")
        message = chat.find(message_id)
        if message is None:
            raise bad_request(f"message to {verb} not found")
        return message

    # --- text and markup ---------------------------------------------------------------------------------------

    @staticmethod
    def _parse_mode(params: Params) -> str | None:
        mode = params.get("parse_mode")
        if mode is None or mode == "":
            return None
        if mode not in PARSE_MODES:
            raise bad_request(f"unsupported parse_mode {mode!r}")
        return str(mode)

    def _text(self, params: Params) -> tuple[str, str, str | None]:
        """(raw text, plain text, parse_mode), validated as sendMessage/editMessageText text."""
        raw = params.get("text")
        if not isinstance(raw, str) or not raw.strip():
            raise bad_request("message text is empty")
        mode = self._parse_mode(params)
        plain = plain_text(raw, mode)
        if not plain.strip():
            raise bad_request("message text is empty")
        if utf16_length(plain) > MAX_TEXT_LENGTH:
            raise bad_request("message is too long")
        return raw, plain, mode

    def _caption(self, params: Params) -> tuple[str | None, str | None, str | None]:
        raw = params.get("caption")
        if raw is None or raw == "":
            return None, None, None
        mode = self._parse_mode(params)
        plain = plain_text(str(raw), mode)
        if utf16_length(plain) > MAX_CAPTION_LENGTH:
            raise bad_request("message caption is too long")
        return str(raw), plain, mode

    def _new_message(self, chat: Chat, params: Params, **fields: Any) -> ChatMessage:
        markup = parse_reply_markup(params.get("reply_markup"))
        message = ChatMessage(
            chat=chat.to_api(),
            message_id=0,
            from_user=self.world.bot_sender,
            date=self._date(),
            reply_markup=markup,
            protect_content=bool(params.get("protect_content")),
            **fields,
        )
        replied = self._replied_message(chat, params)
        message.message_id = chat.take_message_id()
        if replied is not None:
            message.extra["reply_to_message"] = replied.to_api()
        chat.messages.append(message)
        return message

    @staticmethod
    def _replied_message(chat: Chat, params: Params) -> ChatMessage | None:
        reply = params.get("reply_parameters")
        if isinstance(reply, str):
            reply = json.loads(reply)
        if not reply and params.get("reply_to_message_id"):
            reply = {
                "message_id": params["reply_to_message_id"],
                "allow_sending_without_reply": params.get("allow_sending_without_reply", False),
            }
        if not reply:
            return None
        replied = chat.find(int(reply["message_id"]))
        if replied is None and not reply.get("allow_sending_without_reply"):
            raise bad_request("message to be replied not found")
        return replied

    # --- files -------------------------------------------------------------------------------------------------

    def _store_file(self, value: Any, kind: str, missing: str) -> StoredFile:
        if isinstance(value, Upload):
            file_id, unique_id = self.world.new_file_ids(kind)
            stored = StoredFile(file_id, unique_id, kind, value.data, value.filename, value.content_type)
        elif isinstance(value, str) and value.startswith(("http://", "https://")):
            file_id, unique_id = self.world.new_file_ids(kind)
            stored = StoredFile(file_id, unique_id, kind, None, url=value)
        elif isinstance(value, str) and value:
            known = self.world.files.get(value)
            if known is None:
                raise bad_request("wrong file identifier/HTTP URL specified")
            return known
        else:
            raise bad_request(missing)
        self.world.files[stored.file_id] = stored
        return stored

    # --- methods -----------------------------------------------------------------------------------------------

    @staticmethod
    def _true(params: Params) -> bool:
        return True

    def get_me(self, params: Params) -> dict[str, Any]:
        return dict(self.world.bot_user)

    def set_webhook(self, params: Params) -> bool:
        url = params.get("url")
        if not isinstance(url, str) or not url.startswith("https://"):
            raise bad_request("bad webhook: An HTTPS URL must be provided for webhook")
        self.world.webhook_url = url
        return True

    def delete_webhook(self, params: Params) -> bool:
        self.world.webhook_url = ""
        if params.get("drop_pending_updates"):
            self.world.updates.clear()
        return True

    def get_webhook_info(self, params: Params) -> dict[str, Any]:
        info: dict[str, Any] = {
            "url": self.world.webhook_url,
            "has_custom_certificate": False,
            "pending_update_count": len(self.world.updates),
        }
        if self.world.allowed_updates:
            info["allowed_updates"] = list(self.world.allowed_updates)
        return info

    def _commands_key(self, params: Params) -> tuple[str, str]:
        scope = params.get("scope") or {"type": "default"}
        if isinstance(scope, str):
            scope = json.loads(scope)
        return json.dumps(scope, sort_keys=True), str(params.get("language_code") or "")

    def set_my_commands(self, params: Params) -> bool:
        commands = params.get("commands")
        if isinstance(commands, str):
            commands = json.loads(commands)
        if not isinstance(commands, list):
            raise bad_request("can't parse commands JSON object")
        for command in commands:
            name = command.get("command", "") if isinstance(command, dict) else ""
            description = command.get("description", "") if isinstance(command, dict) else ""
            valid_name = (
                isinstance(name, str)
                and 1 <= len(name.lstrip("/")) <= MAX_COMMAND_LENGTH
                and all(c.isascii() and (c.islower() or c.isdigit() or c == "_") for c in name.lstrip("/"))
            )
            if not valid_name:
                raise bad_request("BOT_COMMAND_INVALID")
            if not isinstance(description, str) or not 1 <= len(description) <= MAX_COMMAND_DESCRIPTION_LENGTH:
                raise bad_request("command description is empty" if not description else "BOT_COMMAND_INVALID")
        self.world.commands[self._commands_key(params)] = [
            {"command": c["command"].lstrip("/"), "description": c["description"]} for c in commands
        ]
        return True

    def get_my_commands(self, params: Params) -> list[dict[str, Any]]:
        return [dict(c) for c in self.world.commands.get(self._commands_key(params), [])]

    def delete_my_commands(self, params: Params) -> bool:
        self.world.commands.pop(self._commands_key(params), None)
        return True

    def send_message(self, params: Params) -> dict[str, Any]:
        chat = self.writable_chat(params)
        raw, plain, mode = self._text(params)
        return self._new_message(chat, params, text=plain, raw_text=raw, parse_mode=mode).to_api()

    def send_photo(self, params: Params) -> dict[str, Any]:
        chat = self.writable_chat(params)
        raw, plain, mode = self._caption(params)
        stored = self._store_file(params.get("photo"), "photo", "there is no photo in the request")
        width, height = _png_size(stored.data or b"")
        message = self._new_message(
            chat, params, caption=plain, raw_text=raw, parse_mode=mode, photo_file_id=stored.file_id
        )
        size: dict[str, Any] = {
            "file_id": stored.file_id,
            "file_unique_id": stored.file_unique_id,
            "width": width,
            "height": height,
        }
        if stored.data is not None:
            size["file_size"] = len(stored.data)
        message.extra["photo"] = [size]
        return message.to_api()

    def copy_message(self, params: Params) -> dict[str, Any]:
        """copyMessage: the content of a message (text, caption, media) posted anew, with no link to its sender."""
        chat = self.writable_chat(params)
        source = self.known_chat({"chat_id": params.get("from_chat_id")})
        original = source.find(_int_param(params, "message_id", "message identifier is not specified"))
        if original is None or original.deleted:
            raise bad_request("message to copy not found")
        if original.extra.get("poll") is not None and original.extra["poll"].get("type") == "quiz":
            raise bad_request("message can't be copied")
        caption = params.get("caption", original.caption)
        media = {
            key: copy.deepcopy(value)
            for key, value in original.extra.items()
            if key
            in (
                "photo",
                "voice",
                "audio",
                "video",
                "video_note",
                "document",
                "sticker",
                "location",
                "contact",
                "animation",
            )
        }
        message = self._new_message(
            chat,
            params,
            text=original.text,
            raw_text=original.text,
            caption=caption,
            photo_file_id=original.photo_file_id,
            document_file_id=original.document_file_id,
        )
        message.extra.update(media)
        return {"message_id": message.message_id}

    def send_document(self, params: Params) -> dict[str, Any]:
        chat = self.writable_chat(params)
        raw, plain, mode = self._caption(params)
        stored = self._store_file(params.get("document"), "document", "there is no document in the request")
        message = self._new_message(
            chat, params, caption=plain, raw_text=raw, parse_mode=mode, document_file_id=stored.file_id
        )
        document: dict[str, Any] = {"file_id": stored.file_id, "file_unique_id": stored.file_unique_id}
        if stored.file_name:
            document["file_name"] = stored.file_name
        if stored.mime_type:
            document["mime_type"] = stored.mime_type
        if stored.data is not None:
            document["file_size"] = len(stored.data)
        message.extra["document"] = document
        return message.to_api()

    def _editable(self, params: Params) -> ChatMessage:
        if params.get("inline_message_id"):
            raise bad_request("MESSAGE_ID_INVALID")
        chat = self.writable_chat(params)
        message = self._bot_message(chat, params, "message_id", "edit")
        if not message.from_bot:
            raise bad_request("message can't be edited")
        return message

    def _remember(self, message: ChatMessage) -> None:
        message.history.append(
            Edit(message.text, message.caption, message.reply_markup, message.edit_date or message.date)
        )
        message.edited = True
        message.edit_date = self._date()

    def edit_message_text(self, params: Params) -> dict[str, Any]:
        message = self._editable(params)
        if message.text is None:
            raise bad_request("there is no text in the message to edit")
        raw, plain, mode = self._text(params)
        markup = parse_reply_markup(params.get("reply_markup"))
        if markup is not None and "inline_keyboard" not in markup:
            raise bad_request("inline keyboard expected")
        same_text = plain == message.text and (raw == message.raw_text or (raw == plain and message.raw_text == plain))
        if same_text and inline_keyboard(markup) == inline_keyboard(message.reply_markup):
            raise bad_request(NOT_MODIFIED)
        self._remember(message)
        message.text, message.raw_text, message.parse_mode, message.reply_markup = plain, raw, mode, markup
        return message.to_api()

    def edit_message_reply_markup(self, params: Params) -> dict[str, Any]:
        message = self._editable(params)
        markup = parse_reply_markup(params.get("reply_markup"))
        if markup is not None and "inline_keyboard" not in markup:
            raise bad_request("inline keyboard expected")
        if inline_keyboard(markup) == inline_keyboard(message.reply_markup):
            raise bad_request(NOT_MODIFIED)
        self._remember(message)
        message.reply_markup = markup
        return message.to_api()

    def answer_callback_query(self, params: Params) -> bool:
        query = self.world.callback_queries.get(str(params.get("callback_query_id") or ""))
        if query is None or query.answered:
            raise bad_request("query is too old and response timeout expired or query ID is invalid")
        text = params.get("text")
        if isinstance(text, str) and utf16_length(text) > MAX_CALLBACK_ANSWER_LENGTH:
            raise bad_request("MESSAGE_TOO_LONG")
        query.answered = True
        query.answer = {
            "text": text,
            "show_alert": bool(params.get("show_alert")),
            "url": params.get("url"),
            "cache_time": params.get("cache_time"),
        }
        return True

    def send_chat_action(self, params: Params) -> bool:
        self.writable_chat(params)
        if params.get("action") not in CHAT_ACTIONS:
            raise bad_request("wrong parameter action in request")
        return True

    def leave_chat(self, params: Params) -> bool:
        chat = self.known_chat(params)
        if chat.type == "private":
            raise bad_request("chat member status can't be changed in private chats")
        if not chat.bot_member:
            raise forbidden("bot is not a member of the group chat")
        chat.bot_member = False
        return True

    def get_chat(self, params: Params) -> dict[str, Any]:
        chat = self.known_chat(params)
        info = chat.to_api()
        info.update(
            accent_color_id=0,
            max_reaction_count=11,
            accepted_gift_types={
                "unlimited_gifts": False,
                "limited_gifts": False,
                "unique_gifts": False,
                "premium_subscription": False,
                "gifts_from_channels": False,
            },
        )
        if chat.pinned_message_id is not None:
            pinned = chat.find(chat.pinned_message_id)
            if pinned is not None:
                info["pinned_message"] = pinned.to_api()
        return info

    def delete_message(self, params: Params) -> bool:
        chat = self.writable_chat(params)
        message = self._bot_message(chat, params, "message_id", "delete")
        message.deleted = True
        if chat.pinned_message_id == message.message_id:
            chat.pinned_message_id = None
        return True

    def pin_chat_message(self, params: Params) -> bool:
        chat = self.writable_chat(params)
        message = self._bot_message(chat, params, "message_id", "pin")
        chat.pinned_message_id = message.message_id
        return True

    def get_file(self, params: Params) -> dict[str, Any]:
        stored = self.world.files.get(str(params.get("file_id") or ""))
        if stored is None:
            raise bad_request("invalid file_id")
        result: dict[str, Any] = {"file_id": stored.file_id, "file_unique_id": stored.file_unique_id}
        if stored.data is not None:
            result["file_size"] = len(stored.data)
            result["file_path"] = stored.file_path
        return result
