"""A development aid (SPB_BENCH_TRACE=DIR): where one answer's time goes inside the bot process.

Why: cProfile shows where the event loop's CPU goes, not where an update waits. This records, per update, the wall
clock (`time.time()`, comparable with the driver's press times) of each step — fetched by getUpdates, on disk in the
inbox, handler started, each store context asked / entered / left, each Bot API call started / answered, handler
done — so the slowest answers of a run can be read step by step. Patched on PTB's and the bot's classes in the
bot's benchmark process only; nothing of it ships."""

from __future__ import annotations

import contextlib
import json
import time
from pathlib import Path
from typing import Any

EVENTS: list[tuple[float, int | None, str, str]] = []
"""(wall time, update id or None, step, detail)."""


def _current() -> int | None:
    from bot.storage.inbox import current_update_id

    return current_update_id()


def install(store: Any) -> None:
    """Patch the steps to record (call before the application starts)."""
    from telegram.request import HTTPXRequest

    from bot.telegram import inbox

    add = EVENTS.append
    _trace_garbage_collections(add)

    original_put = inbox.InboxQueue.put

    async def put(self: Any, item: object) -> None:
        update_id = getattr(item, "update_id", None)
        if update_id is not None:
            message = getattr(item, "effective_chat", None)
            add((time.time(), update_id, "arrived", str(getattr(message, "id", ""))))
        await original_put(self, item)

    inbox.InboxQueue.put = put  # type: ignore[method-assign]

    original_keep_all = inbox.Inbox.keep_all

    async def keep_all(self: Any, updates: list[Any]) -> None:
        asked = time.time()
        await original_keep_all(self, updates)
        now = time.time()
        for update in updates:
            add((asked, update.update_id, "keep_asked", str(len(updates))))
            add((now, update.update_id, "kept", ""))

    inbox.Inbox.keep_all = keep_all  # type: ignore[method-assign]

    original_handle = inbox.InboxProcessor._handle

    async def handle(self: Any, update: Any, coroutine: Any) -> None:
        update_id = getattr(update, "update_id", None)
        add((time.time(), update_id, "handle_start", ""))
        try:
            await original_handle(self, update, coroutine)
        finally:
            add((time.time(), update_id, "handle_end", ""))

    inbox.InboxProcessor._handle = handle  # type: ignore[method-assign]

    original_do_request = HTTPXRequest.do_request

    async def do_request(self: Any, url: str, *args: Any, **kwargs: Any) -> Any:
        endpoint = url.rsplit("/", 1)[-1]
        update_id = _current()
        add((time.time(), update_id, "api_start", endpoint))
        try:
            return await original_do_request(self, url, *args, **kwargs)
        finally:
            add((time.time(), update_id, "api_end", endpoint))

    HTTPXRequest.do_request = do_request  # type: ignore[method-assign]

    from bot.telegram import pacing

    original_acquire = pacing.Window.acquire

    async def acquire(self: Any, priority: int = 0, *, keep: int = 0) -> None:
        # issue 38: how long a request waited for its chat's budget (or the bulk window), and in which lane
        update_id = _current()
        detail = f"{type(self).__name__} {priority} {keep}"
        add((time.time(), update_id, "pace_ask", detail))
        try:
            await original_acquire(self, priority, keep=keep)
        finally:
            add((time.time(), update_id, "pace_go", detail))

    pacing.Window.acquire = acquire  # type: ignore[method-assign]

    import aiosqlite

    from bot.storage.store import Tx

    original_execute = aiosqlite.Connection._execute

    async def worker_call(self: Any, fn: Any, *args: Any, **kwargs: Any) -> Any:
        batches = [a for a in args if isinstance(a, list)]  # `bot.storage.store._run_batch`: pending, statements
        texts = [a for a in args if isinstance(a, str)]
        if batches:
            label = " + ".join(" ".join(str(s[0]).split()[:3]) for batch in batches for s in batch)
        else:
            label = texts[0] if texts else getattr(fn, "__name__", "?")
        label = " ".join(label.split())[:90]

        def timed(*a: Any, **k: Any) -> Any:
            started = time.perf_counter()
            try:
                return fn(*a, **k)
            finally:
                add((time.time(), None, "worker", f"{(time.perf_counter() - started) * 1000:.3f} {label}"))

        return await original_execute(self, timed, *args, **kwargs)

    aiosqlite.Connection._execute = worker_call  # type: ignore[method-assign]

    for method in ("execute", "execute_count", "fetchone", "fetchall"):

        def traced(original: Any = getattr(Tx, method)) -> Any:
            async def wrapper(self: Any, sql: str, *args: Any, **kwargs: Any) -> Any:
                add((time.time(), _current(), "sql", " ".join(sql.split())[:70]))
                return await original(self, sql, *args, **kwargs)

            return wrapper

        setattr(Tx, method, traced())

    for name in ("transaction", "single_statement", "read", "read_one"):
        original = getattr(store, name, None)
        if original is None:
            continue

        def timed(original: Any = original, name: str = name) -> Any:
            @contextlib.asynccontextmanager
            async def wrapper(*args: Any, **kwargs: Any) -> Any:
                update_id = _current()
                add((time.time(), update_id, "db_ask", name))
                async with original(*args, **kwargs) as tx:
                    add((time.time(), update_id, "db_in", name))
                    try:
                        yield tx
                    finally:
                        add((time.time(), update_id, "db_out", name))

            return wrapper

        setattr(store, name, timed())


def _trace_garbage_collections(add: Any) -> None:
    """Each collection of the cyclic garbage collector as a "gc" step (detail: generation and milliseconds): it
    holds the GIL, so the loop and aiosqlite's threads all stop meanwhile."""
    import gc

    started: list[float] = []

    def callback(phase: str, info: dict[str, Any]) -> None:
        if phase == "start":
            started[:] = [time.perf_counter()]
        elif started:
            add((time.time(), None, "gc", f"{info.get('generation')} {(time.perf_counter() - started[0]) * 1000:.3f}"))

    gc.callbacks.append(callback)


def dump(directory: str, name: str) -> None:
    """The steps to DIR/name, and beside them (DIR/name.heap.json) the objects the garbage collector tracks, by
    type, biggest counts first (what a full collection walks)."""
    import collections
    import gc

    Path(directory, name).write_text(json.dumps(EVENTS))
    EVENTS.clear()
    tracked = collections.Counter(type(o).__name__ for o in gc.get_objects())
    unreachable = gc.collect()
    kept = collections.Counter(type(o).__name__ for o in gc.get_objects())
    heap = {
        "tracked": sum(tracked.values()),
        "frozen": gc.get_freeze_count(),
        "by_type": tracked.most_common(30),
        "collected_now": unreachable,
        "tracked_after_collecting": sum(kept.values()),
        "by_type_after_collecting": kept.most_common(30),
    }
    Path(directory, f"{name}.heap.json").write_text(json.dumps(heap, indent=1))
