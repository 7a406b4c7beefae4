"""What the fake Telegram remembers: users, chats, messages, files, callback queries and the update queue.

Plain data, no HTTP and no asyncio, so the Bot API methods (`api.py`) and the test-side injections
(`injection.py`) share one picture of the world and tests can inspect it directly.
"""

from __future__ import annotations

import copy
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

#: Update types Telegram leaves out when getUpdates does not list `allowed_updates` (Bot API, getUpdates).
NOT_DELIVERED_BY_DEFAULT = frozenset({"chat_member", "message_reaction", "message_reaction_count"})


@dataclass
class Request:
    """One HTTP call the bot made, as the stand-in decoded it.

    `status` is the HTTP status answered, or None while in flight and for a dropped/timed-out call (see `fault`).
    `params` is decoded: numbers and booleans typed, `reply_markup` and other JSON fields parsed to dicts/lists,
    uploads replaced by `{"upload": filename, "size": n, "content_type": ...}`.
    """

    method: str
    params: dict[str, Any]
    time: float
    status: int | None = None
    description: str | None = None
    fault: str | None = None
    finished: bool = False

    @property
    def chat_id(self) -> Any:
        return self.params.get("chat_id")

    @property
    def ok(self) -> bool:
        return self.status == 200


@dataclass
class Stats:
    """Counters for benchmarks and pacing tests."""

    requests: int = 0
    by_method: Counter[str] = field(default_factory=Counter)
    #: every 429 answered (injected with rate_limit_next or from flood control)
    rate_limited: int = 0
    #: 429s decided by flood control (enforce_limits=True)
    flood_limited: int = 0
    #: every non-2xx answer, 429s included
    errors: int = 0
    unknown_methods: int = 0
    faults_injected: int = 0


@dataclass
class Edit:
    """A previous version of a message, kept when it is edited."""

    text: str | None
    caption: str | None
    reply_markup: dict[str, Any] | None
    date: int


@dataclass
class ChatMessage:
    """A message in a chat, sent by the bot or injected as a user's; `to_api()` gives the Telegram Message."""

    chat: dict[str, Any]
    message_id: int
    from_user: dict[str, Any]
    date: int
    text: str | None = None
    #: the text exactly as the bot sent it (markup included) and its parse_mode
    raw_text: str | None = None
    parse_mode: str | None = None
    caption: str | None = None
    #: the reply_markup as sent (reply keyboards included, though Telegram echoes only inline keyboards)
    reply_markup: dict[str, Any] | None = None
    photo_file_id: str | None = None
    document_file_id: str | None = None
    protect_content: bool = False
    edited: bool = False
    edit_date: int | None = None
    history: list[Edit] = field(default_factory=list)
    deleted: bool = False
    #: further Message fields (sticker, location, entities, forward_origin, reply_to_message, service fields...)
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def chat_id(self) -> int:
        return int(self.chat["id"])

    @property
    def from_bot(self) -> bool:
        return bool(self.from_user.get("is_bot"))

    def buttons(self) -> list[list[dict[str, Any]]]:
        """The inline keyboard rows currently under the message ([] if none)."""
        if not self.reply_markup:
            return []
        return [list(row) for row in self.reply_markup.get("inline_keyboard", [])]

    def button_texts(self) -> list[str]:
        """Every inline button label, row by row."""
        return [button["text"] for row in self.buttons() for button in row]

    def callback_data(self, label: str) -> str:
        """The callback_data of the inline button labelled `label` (KeyError listing the labels if absent)."""
        for row in self.buttons():
            for button in row:
                if button.get("text") == label and "callback_data" in button:
                    return str(button["callback_data"])
        raise KeyError(f"no button {label!r} under message {self.message_id}; buttons: {self.button_texts()}")

    def to_api(self) -> dict[str, Any]:
        """The Telegram `Message` object for the current state."""
        message: dict[str, Any] = {
            "message_id": self.message_id,
            "from": copy.deepcopy(self.from_user),
            "chat": copy.deepcopy(self.chat),
            "date": self.date,
        }
        if self.text is not None:
            message["text"] = self.text
        if self.caption is not None:
            message["caption"] = self.caption
        if self.reply_markup and "inline_keyboard" in self.reply_markup:
            message["reply_markup"] = {"inline_keyboard": copy.deepcopy(self.reply_markup["inline_keyboard"])}
        if self.protect_content:
            message["has_protected_content"] = True
        if self.edit_date is not None:
            message["edit_date"] = self.edit_date
        message.update(copy.deepcopy(self.extra))
        return message


@dataclass
class Chat:
    """A private chat, group or supergroup the bot knows."""

    id: int
    type: str
    title: str | None = None
    first_name: str | None = None
    username: str | None = None
    blocked: bool = False
    bot_member: bool = True
    migrated_to: int | None = None
    pinned_message_id: int | None = None
    messages: list[ChatMessage] = field(default_factory=list)
    next_message_id: int = 1

    def to_api(self) -> dict[str, Any]:
        """The Telegram `Chat` object (as embedded in messages)."""
        chat: dict[str, Any] = {"id": self.id, "type": self.type}
        if self.type == "private":
            chat["first_name"] = self.first_name or ""
            if self.username:
                chat["username"] = self.username
        else:
            chat["title"] = self.title or ""
        return chat

    def take_message_id(self) -> int:
        message_id = self.next_message_id
        self.next_message_id += 1
        return message_id

    def find(self, message_id: int) -> ChatMessage | None:
        for message in self.messages:
            if message.message_id == message_id and not message.deleted:
                return message
        return None


@dataclass
class StoredFile:
    """A photo or document, uploaded by the bot or sent by a simulated user; `data` None for a URL."""

    file_id: str
    file_unique_id: str
    kind: str
    data: bytes | None
    file_name: str | None = None
    mime_type: str | None = None
    url: str | None = None

    @property
    def file_path(self) -> str:
        return f"{self.kind}s/{self.file_unique_id}{_extension(self.file_name)}"


def _extension(file_name: str | None) -> str:
    if file_name and "." in file_name:
        return "." + file_name.rsplit(".", 1)[1]
    return ""


@dataclass
class CallbackQuery:
    id: str
    chat_id: int
    message_id: int
    data: str
    answered: bool = False
    answer: dict[str, Any] | None = None


@dataclass
class World:
    """Everything the fake Telegram knows."""

    bot_user: dict[str, Any]
    users: dict[int, dict[str, Any]] = field(default_factory=dict)
    chats: dict[int, Chat] = field(default_factory=dict)
    files: dict[str, StoredFile] = field(default_factory=dict)
    callback_queries: dict[str, CallbackQuery] = field(default_factory=dict)
    #: updates not yet confirmed by a getUpdates offset, oldest first
    updates: list[dict[str, Any]] = field(default_factory=list)
    next_update_id: int = 1
    #: commands per (scope as canonical JSON, language_code)
    commands: dict[tuple[str, str], list[dict[str, Any]]] = field(default_factory=dict)
    webhook_url: str = ""
    allowed_updates: list[str] | None = None
    next_file_number: int = 1
    next_callback_number: int = 1

    @property
    def bot_sender(self) -> dict[str, Any]:
        """The bot as it appears in `from` of its messages (getMe's capability flags are not repeated there)."""
        return {key: self.bot_user[key] for key in ("id", "is_bot", "first_name", "username")}

    def push_update(self, update: dict[str, Any]) -> dict[str, Any]:
        """Queue `update`, giving it the next update_id unless it carries one."""
        if "update_id" in update:
            self.next_update_id = max(self.next_update_id, int(update["update_id"]) + 1)
        else:
            update = {"update_id": self.next_update_id, **update}
            self.next_update_id += 1
        self.updates.append(update)
        return update

    def confirm(self, offset: int) -> None:
        """Forget updates below `offset` (a negative offset keeps only the last -offset updates)."""
        if offset < 0:
            self.updates = self.updates[offset:]
        elif offset > 0:
            self.updates = [u for u in self.updates if u["update_id"] >= offset]

    def deliverable(self, limit: int) -> list[dict[str, Any]]:
        """Up to `limit` pending updates of the allowed types; updates of other types are dropped, as Telegram does."""
        allowed = set(self.allowed_updates) if self.allowed_updates else None

        def wanted(update: dict[str, Any]) -> bool:
            kinds = [key for key in update if key != "update_id"]
            if allowed is not None:
                return any(kind in allowed for kind in kinds)
            return not any(kind in NOT_DELIVERED_BY_DEFAULT for kind in kinds)

        self.updates = [u for u in self.updates if wanted(u)]
        return copy.deepcopy(self.updates[:limit])

    def new_file_ids(self, kind: str) -> tuple[str, str]:
        number = self.next_file_number
        self.next_file_number += 1
        return f"{kind}-file-{number:06d}", f"u{number:06d}"
