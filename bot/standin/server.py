"""The Bot API stand-in: a fake Telegram served over real HTTP on 127.0.0.1.

The real python-telegram-bot `Bot`/`Application` talks to it through `base_url`, so tests and the offline sandbox
exercise the bot's actual HTTP, JSON, error handling, retries and polling — nothing of PTB is mocked. The stand-in
records every request, keeps the chats' state, lets a test inject updates and faults, and can enforce Telegram's
flood limits.

    async with StandIn() as tg:
        tg.add_private_chat(42, "Marie")
        app = Application.builder().token(tg.token).base_url(tg.base_url).build()
        ...
        tg.send_command(42, 42, "start")
        await tg.wait_for_request("sendMessage", chat_id=42)
"""

from __future__ import annotations

import asyncio
import json
import logging
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from types import TracebackType
from typing import TYPE_CHECKING, Any, NoReturn

from aiohttp import web

from bot.standin.api import BotApi
from bot.standin.errors import METHOD_NOT_FOUND, UNAUTHORIZED, ApiError, too_many_requests
from bot.standin.injection import Injections, Update
from bot.standin.limits import EDITING_METHODS, MAX_UPDATES_PER_CALL, POSTING_METHODS, FloodControl, FloodLimits
from bot.standin.state import ChatMessage, Request, Stats, World
from bot.standin.wire import describe, read_params

if TYPE_CHECKING:
    from bot.standin.webhooks import WebhookPusher

log = logging.getLogger(__name__)

#: Methods that post a message, hence count against flood limits.
FLOOD_COUNTED = POSTING_METHODS | EDITING_METHODS
CONFLICT_OTHER_POLL = ApiError(
    409, "Conflict: terminated by other getUpdates request; make sure that only one bot instance is running"
)
CONFLICT_WEBHOOK = ApiError(
    409, "Conflict: can't use getUpdates method while webhook is active; use deleteWebhook to delete the webhook first"
)
_DUMPS = partial(json.dumps, ensure_ascii=False)


@dataclass
class _Fault:
    kind: str  # "fail" | "timeout" | "drop" | "rate_limit"
    remaining: int
    method: str | None
    status: int = 500
    description: str | None = None
    seconds: float = 0.0
    retry_after: int = 1
    deliver: bool = False
    after: int = 0  # matching calls let through before the fault starts

    def matches(self, method: str) -> bool:
        # A fault without a method never hits getUpdates: background polling must not eat a fault meant for a send.
        if self.method is None:
            return method != "getUpdates"
        return self.method == method


class StandIn(Injections):
    """A fake Telegram Bot API server for one bot token."""

    def push_to_webhooks(self, targets: list[str], secret: str | None) -> WebhookPusher:
        """Deliver updates by webhook, alternating between `targets` (the replicas behind a reverse proxy), as
        Telegram does once a webhook is set (`bot.standin.webhooks`). Stop it with `await pusher.stop()`."""
        from bot.standin.webhooks import WebhookPusher

        pusher = WebhookPusher(
            lambda: self.world.deliverable(1), self.world.confirm, lambda: self._wakeup, targets, secret
        )
        pusher.start()
        return pusher

    def __init__(
        self,
        token: str = "123:TEST",
        *,
        enforce_limits: bool = False,
        flood_limits: FloodLimits | None = None,
        bot_username: str = "spinal_pro_test_bot",
        bot_name: str = "Spinal PRO (test)",
        clock: Callable[[], float] | Any | None = None,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.token = token
        prefix = token.split(":", 1)[0]
        self.world = World(
            bot_user={
                "id": int(prefix) if prefix.isdigit() else 1,
                "is_bot": True,
                "first_name": bot_name,
                "username": bot_username,
                "can_join_groups": True,
                "can_read_all_group_messages": False,
                "supports_inline_queries": False,
                "can_connect_to_business": False,
                "has_main_web_app": False,
            }
        )
        self.api = BotApi(self.world, self._date)
        self._canonical = {name.lower(): name for name in [*self.api.methods, "getUpdates"]}
        self.enforce_limits = enforce_limits
        self.flood = FloodControl(flood_limits or FloodLimits())
        self.stats = Stats()
        self._clock: Callable[[], float] = time.time
        if clock is not None:
            self.set_clock(clock)
        self._monotonic = monotonic
        self._records: list[Request] = []
        #: how many updates were injected in all (tests compare it with the updates the bot has processed)
        self.injected = 0
        self._faults: list[_Fault] = []
        self._delay = 0.0
        self._wakeup = asyncio.Event()
        self._closing = asyncio.Event()
        self._poll_owner: object | None = None
        self._in_flight = 0
        self._last_activity = 0.0
        self._runner: web.AppRunner | None = None
        self._host = "127.0.0.1"
        self._port = 0

    # --- lifecycle ---------------------------------------------------------------------------------------------

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> StandIn:
        """Serve on host:port (port 0: an ephemeral port, read it from `port`)."""
        app = web.Application(client_max_size=60 * 1024 * 1024)
        app.router.add_route("*", "/bot{rest:.*}", self._handle_api)
        app.router.add_get("/file/bot{token}/{path:.+}", self._handle_file)
        # handler_cancellation: a client that gave up (timeout, Application stopping) must not leave a parked poll.
        self._runner = web.AppRunner(app, handler_cancellation=True, access_log=None, shutdown_timeout=1.0)
        await self._runner.setup()
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
        self._host, self._port = host, sock.getsockname()[1]
        self._closing = asyncio.Event()
        self._wakeup = asyncio.Event()
        await web.SockSite(self._runner, sock).start()
        log.debug("Bot API stand-in listening on %s:%s", host, self._port)
        return self

    async def stop(self) -> None:
        """Release parked polls and held requests, then close the server."""
        self._closing.set()
        self._wake()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> StandIn:
        return await self.start()

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.stop()

    @property
    def port(self) -> int:
        return self._port

    @property
    def base_url(self) -> str:
        """What to give PTB as `base_url` (PTB appends the token)."""
        return f"http://{self._host}:{self._port}/bot"

    @property
    def base_file_url(self) -> str:
        """What to give PTB as `base_file_url`."""
        return f"http://{self._host}:{self._port}/file/bot"

    # --- clock -------------------------------------------------------------------------------------------------

    def set_clock(self, clock: Callable[[], float] | Any) -> None:
        """Date messages by `clock`: a callable returning epoch seconds, or an object with `now() -> datetime`."""
        if hasattr(clock, "now"):
            self._clock = lambda: float(clock.now().timestamp())
        else:
            self._clock = clock

    def _now(self) -> float:
        return float(self._clock())

    def _date(self) -> int:
        return int(self._now())

    # --- updates -----------------------------------------------------------------------------------------------

    def _wake(self) -> None:
        """Wake every parked getUpdates (swap in a fresh event for the next waiters)."""
        self._wakeup.set()
        self._wakeup = asyncio.Event()

    def _enqueue(self, update: Update) -> Update:
        self.injected += 1
        update = self.world.push_update(update)
        chat = _update_chat(update)
        if chat is not None:
            self.flood.inbound(chat, now=self._monotonic())
        self._wake()
        return update

    async def _get_updates(self, params: dict[str, Any]) -> list[dict[str, Any]]:
        if self.world.webhook_url:
            raise CONFLICT_WEBHOOK
        offset = int(params.get("offset") or 0)
        limit = min(max(int(params.get("limit") or MAX_UPDATES_PER_CALL), 1), MAX_UPDATES_PER_CALL)
        timeout = max(float(params.get("timeout") or 0), 0.0)
        allowed = params.get("allowed_updates")
        if isinstance(allowed, list):
            self.world.allowed_updates = list(allowed) or None
        self.world.confirm(offset)
        me = object()
        self._poll_owner = me
        self._wake()  # an older parked poll is terminated (409), as at Telegram
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            if self._poll_owner is not me:
                raise CONFLICT_OTHER_POLL
            updates = self.world.deliverable(limit)
            remaining = deadline - loop.time()
            if updates or remaining <= 0 or self._closing.is_set():
                return updates
            event = self._wakeup
            try:
                await asyncio.wait_for(event.wait(), remaining)
            except TimeoutError:
                pass

    # --- HTTP --------------------------------------------------------------------------------------------------

    async def _handle_api(self, request: web.Request) -> web.StreamResponse:
        token, _, method_name = request.match_info["rest"].partition("/")
        method = self._canonical.get(method_name.lower())
        record = Request(method or method_name, {}, self._now())
        self._records.append(record)
        if token != self.token:
            record.finished = True
            return self._error(record, UNAUTHORIZED)
        self.stats.requests += 1
        self.stats.by_method[record.method] += 1
        counted = record.method != "getUpdates"
        if counted:
            self._in_flight += 1
        self._last_activity = time.monotonic()
        try:
            try:
                params = await read_params(request)
                record.params = describe(params)
                if method is None:
                    self.stats.unknown_methods += 1
                    log.warning("Bot API stand-in: unknown method %s called", method_name)
                    raise METHOD_NOT_FOUND
                fault = self._take_fault(method)
                if fault is not None:
                    return await self._apply_fault(fault, request, record, method, params)
                if self._delay and method != "getUpdates":
                    await self._sleep(self._delay)
                self._check_flood(method, params)
                result = await self._call(method, params)
            except ApiError as error:
                return self._error(record, error)
            return self._ok(record, result)
        finally:
            record.finished = True
            if counted:
                self._in_flight -= 1
            self._last_activity = time.monotonic()

    async def _call(self, method: str, params: dict[str, Any]) -> Any:
        if method == "getUpdates":
            return await self._get_updates(params)
        return self.api.methods[method](params)

    def _ok(self, record: Request, result: Any) -> web.Response:
        record.status = 200
        return self._json(200, {"ok": True, "result": result})

    def _error(self, record: Request, error: ApiError) -> web.Response:
        record.status = error.status
        record.description = error.description
        self.stats.errors += 1
        if error.status == 429:
            self.stats.rate_limited += 1
        return self._json(error.status, error.body())

    @staticmethod
    def _json(status: int, body: dict[str, Any]) -> web.Response:
        return web.json_response(body, status=status, dumps=_DUMPS)

    async def _handle_file(self, request: web.Request) -> web.StreamResponse:
        if request.match_info["token"] != self.token:
            return web.Response(status=401)
        for stored in self.world.files.values():
            if stored.data is not None and stored.file_path == request.match_info["path"]:
                return web.Response(body=stored.data, content_type=stored.mime_type or "application/octet-stream")
        return web.Response(status=404)

    # --- faults ------------------------------------------------------------------------------------------------

    def _add_fault(self, fault: _Fault) -> None:
        if fault.remaining < 1:
            raise ValueError("a fault needs count >= 1")
        self._faults.append(fault)

    def fail_next(
        self,
        count: int = 1,
        *,
        status: int = 500,
        method: str | None = None,
        description: str | None = None,
        after: int = 0,
    ) -> None:
        """Answer the next `count` calls (of `method`, or any method but getUpdates) with an HTTP error; with
        `after`, let that many matching calls through first (a failure in the middle of a series)."""
        self._add_fault(_Fault("fail", count, method, status=status, description=description, after=after))

    def timeout_next(
        self, count: int = 1, *, method: str | None = None, seconds: float = 6.0, deliver: bool = False
    ) -> None:
        """Hold the next `count` calls `seconds` (longer than the client waits), then close without answering.

        `deliver=True` performs the call first: the message IS sent although the client saw a timeout.
        """
        self._add_fault(_Fault("timeout", count, method, seconds=seconds, deliver=deliver))

    def drop_next(self, count: int = 1, *, method: str | None = None, deliver: bool = False) -> None:
        """Close the connection of the next `count` calls without any response (`deliver` as in timeout_next)."""
        self._add_fault(_Fault("drop", count, method, deliver=deliver))

    def rate_limit_next(self, count: int = 1, retry_after: int = 1, *, method: str | None = None) -> None:
        """Answer the next `count` calls 429 with parameters.retry_after."""
        if retry_after < 1:
            raise ValueError("Telegram's retry_after is at least 1 second")
        self._add_fault(_Fault("rate_limit", count, method, retry_after=retry_after))

    def set_delay(self, seconds: float) -> None:
        """Make every call except getUpdates take `seconds` longer (0 to stop)."""
        self._delay = max(0.0, seconds)

    def clear_faults(self) -> None:
        self._faults.clear()
        self._delay = 0.0

    def _take_fault(self, method: str) -> _Fault | None:
        for fault in self._faults:
            if fault.matches(method):
                if fault.after > 0:
                    fault.after -= 1
                    return None
                fault.remaining -= 1
                if fault.remaining == 0:
                    self._faults.remove(fault)
                self.stats.faults_injected += 1
                return fault
        return None

    async def _apply_fault(
        self, fault: _Fault, request: web.Request, record: Request, method: str, params: dict[str, Any]
    ) -> web.StreamResponse:
        record.fault = fault.kind
        if fault.kind == "fail":
            description = fault.description or ("Internal Server Error" if fault.status >= 500 else "Fault injected")
            raise ApiError(fault.status, description)
        if fault.kind == "rate_limit":
            raise too_many_requests(fault.retry_after)
        if fault.deliver:
            try:
                await self._call(method, params)
            except ApiError as error:
                record.description = error.description
        if fault.kind == "timeout":
            await self._sleep(fault.seconds)
        return self._drop(request)

    @staticmethod
    def _drop(request: web.Request) -> NoReturn:
        """Close the TCP connection with nothing written: the client sees a disconnect, not a response."""
        if request.transport is not None:
            request.transport.abort()
        raise asyncio.CancelledError()

    async def _sleep(self, seconds: float) -> None:
        """Sleep, but wake at stop() so a held request never delays shutdown."""
        try:
            await asyncio.wait_for(self._closing.wait(), seconds)
        except TimeoutError:
            pass

    def _check_flood(self, method: str, params: dict[str, Any]) -> None:
        if not self.enforce_limits or method not in FLOOD_COUNTED:
            return
        try:
            chat = self.api.known_chat(params)
        except ApiError:
            return  # the method itself will answer "chat not found"
        retry_after = self.flood.retry_after(
            chat.id, private=chat.type == "private", now=self._monotonic(), edit=method in EDITING_METHODS
        )
        if retry_after is not None:
            self.stats.flood_limited += 1
            raise too_many_requests(retry_after)

    # --- inspection --------------------------------------------------------------------------------------------

    def requests(self, method: str | None = None, chat_id: int | str | None = None) -> list[Request]:
        """Recorded calls, oldest first, optionally of one method and/or one chat."""
        return [
            r
            for r in self._records
            if (method is None or r.method == method) and (chat_id is None or str(r.chat_id) == str(chat_id))
        ]

    def clear_requests(self) -> None:
        self._records.clear()

    def messages(self, chat_id: int, *, include_deleted: bool = False) -> list[ChatMessage]:
        """Every message in the chat (the bot's and the users'), in order."""
        chat = self.world.chats.get(chat_id)
        if chat is None:
            return []
        return [m for m in chat.messages if include_deleted or not m.deleted]

    def sent_messages(self, chat_id: int) -> list[ChatMessage]:
        """The bot's messages in the chat as they are now (edits applied, deleted ones left out)."""
        return [m for m in self.messages(chat_id) if m.from_bot]

    def last_message(self, chat_id: int) -> ChatMessage | None:
        """The bot's latest message in the chat, None if it sent none."""
        sent = self.sent_messages(chat_id)
        return sent[-1] if sent else None

    def callback_answer(self, query_id: str) -> dict[str, Any] | None:
        """How the bot answered a pressed button (None while unanswered)."""
        query = self.world.callback_queries.get(query_id)
        return query.answer if query else None

    def get_file_bytes(self, file_id: str) -> bytes:
        """The bytes of an uploaded photo/document (KeyError if unknown or sent by URL)."""
        stored = self.world.files.get(file_id)
        if stored is None or stored.data is None:
            raise KeyError(f"no stored bytes for file_id {file_id!r}")
        return stored.data

    @property
    def pending_updates(self) -> int:
        """Updates injected and not yet confirmed by the bot's polling."""
        return len(self.world.updates)

    # --- waiting -----------------------------------------------------------------------------------------------

    def _recorded_methods(self) -> str:
        return ", ".join(f"{r.method}[{r.status}]" for r in self._records) or "none"

    async def wait_for(self, predicate: Callable[[], bool], timeout: float = 5.0) -> None:
        """Wait until `predicate()` is true; AssertionError (with the calls seen) after `timeout` seconds."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while not predicate():
            if loop.time() >= deadline:
                raise AssertionError(
                    f"condition not met within {timeout}s; requests so far: {self._recorded_methods()}"
                )
            await asyncio.sleep(0.005)

    async def wait_for_request(
        self, method: str, *, chat_id: int | str | None = None, count: int = 1, timeout: float = 5.0
    ) -> list[Request]:
        """Wait until `count` finished calls of `method` (to `chat_id`) are recorded; return all such calls."""

        def matching() -> list[Request]:
            return [r for r in self.requests(method, chat_id) if r.finished]

        try:
            await self.wait_for(lambda: len(matching()) >= count, timeout)
        except AssertionError:
            where = f" to chat {chat_id}" if chat_id is not None else ""
            raise AssertionError(
                f"expected {count} {method}{where} within {timeout}s, saw {len(matching())}; "
                f"requests so far: {self._recorded_methods()}"
            ) from None
        return matching()

    async def wait_idle(self, timeout: float = 5.0, *, quiet: float = 0.05) -> None:
        """Wait until the bot has fetched and confirmed every injected update and gone quiet.

        Confirmed means a later getUpdates carried an offset past them (the bot polled again after fetching);
        quiet means no call other than getUpdates in flight and none started or finished for `quiet` seconds —
        a heuristic for "its handlers are done", so prefer `wait_for_request` when the expected call is known.
        """

        def idle() -> bool:
            return not self.world.updates and self._in_flight == 0 and time.monotonic() - self._last_activity >= quiet

        try:
            await self.wait_for(idle, timeout)
        except AssertionError:
            raise AssertionError(
                f"bot not idle within {timeout}s: {len(self.world.updates)} update(s) unconfirmed, "
                f"{self._in_flight} call(s) in flight; requests so far: {self._recorded_methods()}"
            ) from None


def _update_chat(update: dict[str, Any]) -> int | None:
    """The chat an update comes from (what the bot sends it next is a reply)."""
    for kind in ("message", "edited_message", "channel_post", "my_chat_member", "chat_member", "chat_join_request"):
        body = update.get(kind)
        if isinstance(body, dict) and isinstance(body.get("chat"), dict):
            return int(body["chat"]["id"])
    query = update.get("callback_query")
    if isinstance(query, dict):
        message = query.get("message")
        if isinstance(message, dict) and isinstance(message.get("chat"), dict):
            return int(message["chat"]["id"])
        if isinstance(query.get("from"), dict):
            return int(query["from"]["id"])
    return None
