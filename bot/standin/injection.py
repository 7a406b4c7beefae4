"""What simulated people do: write, press buttons, send stickers, add the bot to a group, block it.

Each injection builds the Telegram Update a real client would cause, stores the user's message in the chat (so a
later reply or edit can refer to it) and queues the update for getUpdates. Mixed into `StandIn`, which supplies
`world`, `_date()` and `_enqueue()`.
"""

from __future__ import annotations

import copy
from typing import Any

from bot.standin.limits import utf16_length
from bot.standin.state import CallbackQuery, Chat, ChatMessage, StoredFile, World

Update = dict[str, Any]

#: The sender Telegram shows for service messages nobody in particular caused.
TELEGRAM_SERVICE_USER = {"id": 777000, "is_bot": False, "first_name": "Telegram"}


class Injections:
    """Test-side actions; every method returns the update it queued (or the list, for several)."""

    world: World

    def _date(self) -> int:  # pragma: no cover - provided by StandIn
        raise NotImplementedError

    def _enqueue(self, update: Update) -> Update:  # pragma: no cover - provided by StandIn
        raise NotImplementedError

    # --- people and chats ------------------------------------------------------------------------------------

    def add_private_chat(
        self, user_id: int, first_name: str = "Patient", username: str | None = None, *, language_code: str = "fr"
    ) -> dict[str, Any]:
        """Make user `user_id` known with a private chat (chat id = user id); returns the Chat object."""
        user: dict[str, Any] = {
            "id": user_id,
            "is_bot": False,
            "first_name": first_name,
            "language_code": language_code,
        }
        if username:
            user["username"] = username
        self.world.users[user_id] = user
        chat = self.world.chats.get(user_id)
        if chat is None:
            chat = Chat(id=user_id, type="private", first_name=first_name, username=username)
            self.world.chats[user_id] = chat
        return chat.to_api()

    def add_group(self, chat_id: int, title: str, type: str = "group") -> dict[str, Any]:
        """Make a group or supergroup the bot is a member of; returns the Chat object."""
        if type not in ("group", "supergroup"):
            raise ValueError(f"a group is 'group' or 'supergroup', not {type!r}")
        if chat_id >= 0:
            raise ValueError(f"group chat ids are negative at Telegram, got {chat_id}")
        chat = Chat(id=chat_id, type=type, title=title)
        self.world.chats[chat_id] = chat
        return chat.to_api()

    def _user(self, user_id: int) -> dict[str, Any]:
        if user_id not in self.world.users:
            self.world.users[user_id] = {
                "id": user_id,
                "is_bot": False,
                "first_name": f"User {user_id}",
                "language_code": "fr",
            }
        return self.world.users[user_id]

    def _chat(self, chat_id: int) -> Chat:
        chat = self.world.chats.get(chat_id)
        if chat is None:
            raise ValueError(f"unknown chat {chat_id}: call add_private_chat() or add_group() first")
        return chat

    def _message(self, chat_id: int, sender: dict[str, Any], kind: str = "message", **fields: Any) -> Update:
        """Store a message from `sender` in the chat and queue it as a `kind` update."""
        chat = self._chat(chat_id)
        text = fields.pop("text", None)
        caption = fields.pop("caption", None)
        message = ChatMessage(
            chat=chat.to_api(),
            message_id=chat.take_message_id(),
            from_user=copy.deepcopy(sender),
            date=self._date(),
            text=text,
            raw_text=text,
            caption=caption,
            extra=fields,
        )
        chat.messages.append(message)
        return self._enqueue({kind: message.to_api()})

    # --- messages ----------------------------------------------------------------------------------------------

    def send_text(
        self, chat_id: int, user_id: int, text: str, *, forward: bool = False, reply_to: int | None = None
    ) -> Update:
        """The user writes `text`; a leading "/word" (also "/word@botname") becomes a bot_command entity."""
        fields: dict[str, Any] = {"text": text}
        if text.startswith("/"):
            command = text.split(maxsplit=1)[0]
            fields["entities"] = [{"type": "bot_command", "offset": 0, "length": utf16_length(command)}]
        if forward:
            fields["forward_origin"] = {"type": "hidden_user", "sender_user_name": "Someone", "date": self._date()}
        if reply_to is not None:
            replied = self._chat(chat_id).find(reply_to)
            if replied is None:
                raise ValueError(f"no message {reply_to} in chat {chat_id} to reply to")
            fields["reply_to_message"] = replied.to_api()
        return self._message(chat_id, self._user(user_id), **fields)

    def send_command(self, chat_id: int, user_id: int, command: str, args: str = "") -> Update:
        """The user sends "/command args"."""
        text = "/" + command.lstrip("/")
        return self.send_text(chat_id, user_id, f"{text} {args}" if args else text)

    def press_button(
        self, chat_id: int, user_id: int, message_id: int, callback_data: str, *, strict: bool = True
    ) -> str:
        """The user presses an inline button under bot message `message_id`; returns the callback query id.

        With `strict`, the button must be under the message now (a keyboard removed by an edit cannot be pressed).
        """
        message = self._chat(chat_id).find(message_id)
        if message is None or not message.from_bot:
            raise ValueError(f"no bot message {message_id} in chat {chat_id}")
        if strict and callback_data not in [b.get("callback_data") for row in message.buttons() for b in row]:
            raise ValueError(
                f"message {message_id} has no button with callback_data {callback_data!r}; buttons: {message.buttons()}"
            )
        number = self.world.next_callback_number
        self.world.next_callback_number += 1
        query_id = str(4_000_000_000 + number)
        self.world.callback_queries[query_id] = CallbackQuery(query_id, chat_id, message_id, callback_data)
        self._enqueue(
            {
                "callback_query": {
                    "id": query_id,
                    "from": copy.deepcopy(self._user(user_id)),
                    "message": message.to_api(),
                    "chat_instance": str(abs(chat_id) * 7919),
                    "data": callback_data,
                }
            }
        )
        return query_id

    def _user_file(self, kind: str, data: bytes, file_name: str | None = None, mime: str | None = None) -> StoredFile:
        file_id, unique_id = self.world.new_file_ids(kind)
        stored = StoredFile(file_id, unique_id, kind, data, file_name, mime)
        self.world.files[file_id] = stored
        return stored

    def send_sticker(self, chat_id: int, user_id: int, emoji: str = "👍") -> Update:
        stored = self._user_file("sticker", b"")
        sticker = {
            "file_id": stored.file_id,
            "file_unique_id": stored.file_unique_id,
            "type": "regular",
            "width": 512,
            "height": 512,
            "is_animated": False,
            "is_video": False,
            "emoji": emoji,
        }
        return self._message(chat_id, self._user(user_id), sticker=sticker)

    def send_photo(
        self, chat_id: int, user_id: int, data: bytes = b"\xff\xd8\xff", caption: str | None = None
    ) -> Update:
        stored = self._user_file("photo", data, "photo.jpg", "image/jpeg")
        size = {
            "file_id": stored.file_id,
            "file_unique_id": stored.file_unique_id,
            "width": 640,
            "height": 480,
            "file_size": len(data),
        }
        return self._message(chat_id, self._user(user_id), photo=[size], caption=caption)

    def send_voice(self, chat_id: int, user_id: int, duration: int = 3, data: bytes = b"OggS") -> Update:
        stored = self._user_file("voice", data, "voice.ogg", "audio/ogg")
        voice = {
            "file_id": stored.file_id,
            "file_unique_id": stored.file_unique_id,
            "duration": duration,
            "mime_type": "audio/ogg",
            "file_size": len(data),
        }
        return self._message(chat_id, self._user(user_id), voice=voice)

    def send_location(self, chat_id: int, user_id: int, latitude: float = 48.8566, longitude: float = 2.3522) -> Update:
        return self._message(chat_id, self._user(user_id), location={"latitude": latitude, "longitude": longitude})

    def send_contact(
        self, chat_id: int, user_id: int, phone_number: str = "+33600000000", first_name: str = "Contact"
    ) -> Update:
        contact = {"phone_number": phone_number, "first_name": first_name}
        return self._message(chat_id, self._user(user_id), contact=contact)

    def send_document(
        self,
        chat_id: int,
        user_id: int,
        data: bytes = b"%PDF-1.4",
        file_name: str = "document.pdf",
        mime_type: str = "application/pdf",
        caption: str | None = None,
    ) -> Update:
        stored = self._user_file("document", data, file_name, mime_type)
        document = {
            "file_id": stored.file_id,
            "file_unique_id": stored.file_unique_id,
            "file_name": file_name,
            "mime_type": mime_type,
            "file_size": len(data),
        }
        return self._message(chat_id, self._user(user_id), document=document, caption=caption)

    def send_poll(
        self, chat_id: int, user_id: int, question: str = "Question ?", options: tuple[str, ...] = ("Oui", "Non")
    ) -> Update:
        # persistent_id, allows_revoting and members_only are required since Bot API 9.6 / 10.0 (PTB 22.8 refuses
        # a poll without them, and with it the whole getUpdates batch).
        poll = {
            "id": str(5_000_000_000 + self.world.next_update_id),
            "question": question,
            "options": [
                {"text": text, "voter_count": 0, "persistent_id": str(number)} for number, text in enumerate(options)
            ],
            "total_voter_count": 0,
            "is_closed": False,
            "is_anonymous": True,
            "type": "regular",
            "allows_multiple_answers": False,
            "allows_revoting": False,
            "members_only": False,
        }
        return self._message(chat_id, self._user(user_id), poll=poll)

    def edit_text(self, chat_id: int, user_id: int, message_id: int, new_text: str) -> Update:
        """The user edits their own text message: an `edited_message` update."""
        message = self._chat(chat_id).find(message_id)
        if message is None or message.from_user.get("id") != user_id or message.text is None:
            raise ValueError(f"user {user_id} has no text message {message_id} in chat {chat_id}")
        message.text = message.raw_text = new_text
        message.extra.pop("entities", None)
        if new_text.startswith("/"):
            command = new_text.split(maxsplit=1)[0]
            message.extra["entities"] = [{"type": "bot_command", "offset": 0, "length": utf16_length(command)}]
        message.edited = True
        message.edit_date = self._date()
        return self._enqueue({"edited_message": message.to_api()})

    # --- groups ------------------------------------------------------------------------------------------------

    def add_member(self, chat_id: int, user_id: int) -> Update:
        """A user joins a group: a message with `new_chat_members`."""
        user = self._user(user_id)
        return self._message(chat_id, user, new_chat_members=[copy.deepcopy(user)])

    def _my_chat_member(self, chat: Chat, by: dict[str, Any], old: str, new: str) -> Update:
        bot = self.world.bot_sender

        def member(status: str) -> dict[str, Any]:
            # Telegram sends until_date (0: for ever) with every "kicked" member, old or new.
            fields: dict[str, Any] = {"status": status, "user": copy.deepcopy(bot)}
            if status == "kicked":
                fields["until_date"] = 0
            return fields

        return self._enqueue(
            {
                "my_chat_member": {
                    "chat": chat.to_api(),
                    "from": copy.deepcopy(by),
                    "date": self._date(),
                    "old_chat_member": member(old),
                    "new_chat_member": member(new),
                }
            }
        )

    def bot_added_to_group(self, chat_id: int, by_user_id: int) -> list[Update]:
        """Someone adds the bot to a group: `my_chat_member` (left → member) then the `new_chat_members` message."""
        chat = self._chat(chat_id)
        chat.bot_member = True
        by = self._user(by_user_id)
        first = self._my_chat_member(chat, by, "left", "member")
        second = self._message(chat_id, by, new_chat_members=[self.world.bot_sender])
        return [first, second]

    def migrate_group(self, old_chat_id: int, new_chat_id: int, *, by_user_id: int | None = None) -> list[Update]:
        """A group becomes a supergroup: `migrate_to_chat_id` in the old chat, `migrate_from_chat_id` in the new.

        Afterwards, sending to the old id answers 400 with `migrate_to_chat_id` (PTB's ChatMigrated).
        """
        old = self._chat(old_chat_id)
        if old.type != "group":
            raise ValueError(f"only a 'group' migrates, chat {old_chat_id} is a {old.type}")
        new = Chat(id=new_chat_id, type="supergroup", title=old.title)
        self.world.chats[new_chat_id] = new
        by = self._user(by_user_id) if by_user_id is not None else TELEGRAM_SERVICE_USER
        first = self._message(old_chat_id, by, migrate_to_chat_id=new_chat_id)
        old.migrated_to = new_chat_id
        second = self._message(new_chat_id, by, migrate_from_chat_id=old_chat_id)
        return [first, second]

    def inject_raw(self, update: Update) -> Update:
        """Queue any update as given (an update_id is assigned if absent)."""
        return self._enqueue(copy.deepcopy(update))

    def block_chat(self, chat_id: int, *, notify: bool = True) -> Update | None:
        """The user blocks the bot: sends then answer 403; Telegram also sends `my_chat_member` (→ kicked)."""
        chat = self._chat(chat_id)
        chat.blocked = True
        if not notify:
            return None
        return self._my_chat_member(chat, self._user(chat_id), "member", "kicked")

    def unblock_chat(self, chat_id: int, *, notify: bool = True) -> Update | None:
        """The user unblocks the bot (`my_chat_member` kicked → member)."""
        chat = self._chat(chat_id)
        chat.blocked = False
        if not notify:
            return None
        return self._my_chat_member(chat, self._user(chat_id), "kicked", "member")
