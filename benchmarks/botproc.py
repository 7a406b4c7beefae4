"""Running the bot under test in its own process, as in production, and talking to it over a pipe.

The driver process hosts the stand-in (fake Telegram over loopback HTTP) and the simulated patients; the bot
process hosts only the PTB `Application` and its SQLite connection. On a 2-core machine each gets a core, as a bot
talking to the real Telegram would have its core to itself. The pipe carries benchmark commands only ("run one
dispatcher tick now", "time the due query", "move the clock"); patients reach the bot exclusively through the
stand-in, by HTTP, like real updates.

Kinds of bot:
- "product": `bot.bootstrap.build_services` + `build_application`, exactly as `python -m bot run` builds them
  (the rate limiter and the tick job as the spec says).
- "bare": the ceiling application of `benchmarks.bare` (no database).
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import sys
import time
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TextIO

from benchmarks.clock import BenchClock
from benchmarks.probes import cpu_seconds, due_query_sql, explain, memory_kb

log = logging.getLogger(__name__)

TOKEN = "424242:BENCH-token-not-a-real-one_abcdefgh"
CLINICIAN_CHAT = -1004242
CLINICIANS = (4201, 4202)
REPO_ROOT = Path(__file__).resolve().parents[1]
#: How long the bot process may take to import, load its data files and start polling.
START_TIMEOUT = 120.0


@dataclass(frozen=True)
class BotSpec:
    """Everything the bot process needs; plain data so it crosses the process boundary."""

    kind: str
    database: str
    base_url: str
    clock_start: float
    clock_origin: float
    rate_limiter: bool = False
    tick_seconds: float | None = None
    #: (overall_max_rate, overall_time_period) of an AIORateLimiter put in place of the product's one, to measure
    #: another pacing (see `_replace_rate_limiter`); None keeps the product's
    limiter: tuple[float, float] | None = None
    bare_questionnaire: str = "daily"
    token: str = TOKEN
    clinician_chat_id: int = CLINICIAN_CHAT
    clinician_user_ids: tuple[int, ...] = CLINICIANS
    log_level: int = logging.WARNING
    #: BOT_FANOUT_SPREAD_MINUTES; 0 (not the product's default) so a fan-out goes out as fast as Telegram allows,
    #: the hardest case for the patients answering meanwhile
    fanout_spread_minutes: float = 0.0


class BotProcess:
    """Parent-side handle: `async with BotProcess(spec) as bot: await bot.call("tick")`.

    The bot runs as `python -m benchmarks.botproc` (a fresh interpreter, nothing inherited but the spec); commands
    and results are JSON lines on its stdin/stdout, its logs go to stderr.
    """

    def __init__(self, spec: BotSpec) -> None:
        self.spec = spec
        self._process: asyncio.subprocess.Process | None = None
        self._lock = asyncio.Lock()

    @property
    def pid(self) -> int:
        assert self._process is not None
        return self._process.pid

    async def __aenter__(self) -> BotProcess:
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO_ROOT), env.get("PYTHONPATH", "")]))
        self._process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "benchmarks.botproc",
            json.dumps(asdict(self.spec)),
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            cwd=str(REPO_ROOT),
            env=env,
            limit=2**24,
        )
        status, result = await self._receive(START_TIMEOUT)
        if status != "ready":
            raise RuntimeError(f"bot process failed to start: {result}")
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._process is not None
        try:
            if self._process.returncode is None:
                await self.call("stop", timeout=30.0)
            await asyncio.wait_for(self._process.wait(), 10.0)
        except (TimeoutError, RuntimeError, ConnectionError):
            if self._process.returncode is None:
                self._process.kill()
                await self._process.wait()

    async def _receive(self, timeout: float) -> tuple[str, Any]:
        assert self._process is not None and self._process.stdout is not None
        line = await asyncio.wait_for(self._process.stdout.readline(), timeout)
        if not line:
            raise RuntimeError(f"bot process exited (code {await self._process.wait()})")
        message = json.loads(line)
        return str(message["status"]), message.get("result")

    async def call(self, command: str, *, timeout: float = 3600.0, **args: Any) -> Any:
        """Run `command` in the bot process; return its result (RuntimeError with the child's error)."""
        assert self._process is not None and self._process.stdin is not None
        async with self._lock:
            self._process.stdin.write((json.dumps({"command": command, "args": args}) + "\n").encode())
            await self._process.stdin.drain()
            status, result = await self._receive(timeout)
        if status != "ok":
            raise RuntimeError(f"bot process: {command} failed: {result}")
        return result

    def memory_kb(self) -> dict[str, int]:
        return memory_kb(self.pid)

    def cpu_seconds(self) -> float:
        return cpu_seconds(self.pid)


# --- the bot process ----------------------------------------------------------------------------------------------


def child_main(argv: list[str]) -> None:
    """Entry point of the bot process: the spec as JSON in argv[1]; protocol on stdout, anything else to stderr."""
    fields = json.loads(argv[1])
    fields["clinician_user_ids"] = tuple(fields["clinician_user_ids"])
    if fields.get("limiter") is not None:
        fields["limiter"] = tuple(fields["limiter"])
    spec = BotSpec(**fields)
    protocol = os.fdopen(os.dup(sys.stdout.fileno()), "w", encoding="utf-8", buffering=1)
    os.dup2(sys.stderr.fileno(), sys.stdout.fileno())  # a stray print must not corrupt the protocol
    logging.basicConfig(level=spec.log_level, format="bot-process %(levelname)s %(name)s: %(message)s")
    asyncio.run(_serve(protocol, spec))


class _Host:
    """The bot process's state: the clock, the services (product kinds) and the Application."""

    def __init__(self, spec: BotSpec) -> None:
        self.spec = spec
        self.clock = BenchClock(datetime.fromtimestamp(spec.clock_start, UTC), spec.clock_origin)
        self.services: Any = None
        self.application: Any = None

    async def start(self) -> None:
        from telegram import Update

        if self.spec.kind == "bare":
            from benchmarks.bare import build_bare_application
            from bot.bootstrap import QUESTIONNAIRES_DIR
            from bot.domain.questionnaire import load_questionnaires

            questionnaire = load_questionnaires(QUESTIONNAIRES_DIR)[self.spec.bare_questionnaire]
            self.application = build_bare_application(
                token=self.spec.token, base_url=self.spec.base_url, questionnaire=questionnaire
            )
        else:
            from benchmarks.population import SITES_FILE
            from bot.bootstrap import build_services
            from bot.config import load_settings
            from bot.telegram.app import build_application

            settings = load_settings(
                TELEGRAM_BOT_TOKEN=self.spec.token,
                TELEGRAM_API_BASE_URL=self.spec.base_url,
                BOT_DATABASE=self.spec.database,
                CLINICIAN_CHAT_ID=self.spec.clinician_chat_id,
                CLINICIAN_USER_IDS=",".join(str(c) for c in self.spec.clinician_user_ids),
                BOT_TICK_SECONDS=self.spec.tick_seconds or 20.0,
                BOT_FANOUT_SPREAD_MINUTES=self.spec.fanout_spread_minutes,
                BOT_SITES_FILE=str(SITES_FILE),
            )
            self.services = await build_services(settings, self.clock)
            tick = timedelta(seconds=self.spec.tick_seconds) if self.spec.tick_seconds else None
            self.application = build_application(
                self.services,
                token=self.spec.token,
                base_url=self.spec.base_url,
                tick=tick,
                rate_limiter=self.spec.rate_limiter,
            )
            if self.spec.limiter is not None:
                _replace_rate_limiter(self.application, *self.spec.limiter)
        if os.environ.get("SPB_SWITCH_INTERVAL"):  # an experiment: another GIL switch interval than the bot's
            sys.setswitchinterval(float(os.environ["SPB_SWITCH_INTERVAL"]))
        if self.services is not None and os.environ.get("SPB_BENCH_LOCKSTATS"):
            self._time_store_locks()
        if self.services is not None and os.environ.get("SPB_BENCH_TRACE"):
            from benchmarks import tracing

            tracing.install(self.services.store)
        await self.application.initialize()
        await self.application.start()
        if self.services is not None:  # as `python -m bot run` does before its first update
            from bot.interpreter import settle_the_heap

            settle_the_heap()
        await self.application.updater.start_polling(allowed_updates=Update.ALL_TYPES)

    async def stop(self) -> None:
        await self.application.updater.stop()
        await self.application.stop()
        await self.application.shutdown()
        if self.services is not None:
            await self.services.store.close()

    # --- commands ---------------------------------------------------------------------------------------------

    async def tick(self) -> dict[str, Any]:
        """One `dispatcher.tick`, as the JobQueue runs it (the delivery worker is not part of it)."""
        from bot.scheduling import dispatcher
        from bot.telegram.context import MESSENGER_KEY

        started = time.perf_counter()
        report = await dispatcher.tick(self.services, self.application.bot_data[MESSENGER_KEY])
        return {
            "seconds": time.perf_counter() - started,
            "sent": len(report.sent),
            "reminded": len(report.reminded),
            "missed": len(report.missed),
            "notices": len(report.notices),
        }

    async def due_query(self, repeat: int = 5) -> dict[str, Any]:
        """Time the dispatcher's due SELECT on the bot's own connection (inside `store.read()`, as tick does)."""
        from bot.clock import utc_iso

        sql = due_query_sql()
        now = utc_iso(self.clock.now())
        params = (now,) * sql.count("?")
        timings: list[float] = []
        rows = 0
        for _ in range(repeat):
            async with self.services.store.read() as tx:
                started = time.perf_counter()
                found = await tx.fetchall(sql, params)
                timings.append(time.perf_counter() - started)
                rows = len(found)
        async with self.services.store.read() as tx:
            plan = explain(await tx.fetchall("EXPLAIN QUERY PLAN " + sql, params))
        return {"seconds": timings, "rows": rows, "query_plan": plan}

    async def pacing(self) -> dict[str, Any]:
        """What the pacer did (`bot.telegram.pacing.TelegramPacing`): 429s by scope, requests that found their
        chat's window full, by lane — where a reply's wait came from, if any."""
        limiter = self.application.bot.rate_limiter
        if limiter is None or not hasattr(limiter, "held"):
            return {}
        return {
            "held": dict(limiter.held),
            "bulk_window_sends": limiter.bulk_window_sends,
            "waited_for_chat": {lane.name.lower(): n for lane, n in limiter.waited_for_chat.items()},
            "flood_muted": limiter.flood_guard.muted,
        }

    def _time_store_locks(self) -> None:
        """With SPB_BENCH_LOCKSTATS set, time how long each store context waits for its lock (until it is entered)
        and holds it (until it exits): a development aid — is the single writer the queue?"""
        import contextlib

        store = self.services.store
        self.lock_stats: dict[str, list[tuple[float, float]]] = {}
        for name in ("transaction", "single_statement", "read"):
            samples = self.lock_stats.setdefault(name, [])

            def timed(original: Any = getattr(store, name), samples: list[tuple[float, float]] = samples) -> Any:
                @contextlib.asynccontextmanager
                async def wrapper() -> Any:
                    asked = time.perf_counter()
                    async with original() as tx:
                        entered = time.perf_counter()
                        try:
                            yield tx
                        finally:
                            samples.append((entered - asked, time.perf_counter() - entered))

                return wrapper

            setattr(store, name, timed())

    async def lockstats(self) -> dict[str, Any]:
        """Waits and holds per store context since the last call (`benchmarks.stats.latency_summary_ms`)."""
        from benchmarks.stats import latency_summary_ms

        out = {}
        for name, samples in getattr(self, "lock_stats", {}).items():
            if samples:
                out[name] = {
                    "wait": latency_summary_ms([w for w, _ in samples]),
                    "hold": latency_summary_ms([h for _, h in samples]),
                    "hold_total_s": round(sum(h for _, h in samples), 3),
                }
            samples.clear()
        return out

    async def cprofile_start(self) -> None:
        """Start cProfile on the event loop's thread (a development aid: where a phase's time goes)."""
        import cProfile

        # SPB_BENCH_CPROFILE_CPU=1: the loop thread's CPU time, not wall-clock time (issue 38: on a machine shared
        # with others, wall-clock profiles count the waits for a core)
        timer = time.thread_time if os.environ.get("SPB_BENCH_CPROFILE_CPU") else None
        self._cprofile = cProfile.Profile(timer) if timer is not None else cProfile.Profile()
        self._cprofile.enable()

    async def cprofile_stop(self, path: str) -> None:
        """Stop the profile `cprofile_start` began and write its stats to `path` (pstats format)."""
        self._cprofile.disable()
        self._cprofile.dump_stats(path)

    async def trace_dump(self, name: str) -> None:
        """With SPB_BENCH_TRACE=DIR, write the steps recorded so far to DIR/name (`benchmarks.tracing`)."""
        from benchmarks import tracing

        if os.environ.get("SPB_BENCH_TRACE"):
            tracing.dump(os.environ["SPB_BENCH_TRACE"], name)

    async def set_clock(self, at: float) -> None:
        self.clock.jump(datetime.fromtimestamp(at, UTC))

    async def open_bare(self, chat_ids: list[int]) -> None:
        from benchmarks.bare import SCRIPT_KEY

        await self.application.bot_data[SCRIPT_KEY].open(self.application.bot, chat_ids)


def _replace_rate_limiter(application: Any, max_rate: float, period: float) -> None:
    """Measure another pacing: PTB's AIORateLimiter, a bucket of `max_rate` per `period` overall (experiment only),
    with Telegram's group limit and the product's retries.
    PTB gives no public setter once the Application is built, so the benchmark swaps the bot's private
    `_rate_limiter` before `initialize()`.
    """
    from telegram.ext import AIORateLimiter

    from bot.telegram import pacing

    application.bot._rate_limiter = AIORateLimiter(
        overall_max_rate=max_rate,
        overall_time_period=period,
        group_max_rate=pacing.GROUP_MESSAGES_PER_MINUTE,
        group_time_period=60,
        max_retries=pacing.RETRIES_AFTER_429,
    )


async def _serve(protocol: TextIO, spec: BotSpec) -> None:
    def send(status: str, result: Any = None) -> None:
        protocol.write(json.dumps({"status": status, "result": result}) + "\n")

    host = _Host(spec)
    try:
        await host.start()
    except Exception as exc:  # report to the parent instead of dying silently
        send("error", repr(exc))
        raise
    send("ready")
    commands = {
        "tick": host.tick,
        "due_query": host.due_query,
        "set_clock": host.set_clock,
        "open_bare": host.open_bare,
        "pacing": host.pacing,
        "cprofile_start": host.cprofile_start,
        "cprofile_stop": host.cprofile_stop,
        "lockstats": host.lockstats,
        "trace_dump": host.trace_dump,
    }
    while True:
        line = await asyncio.to_thread(sys.stdin.readline)
        if not line:  # the driver went away
            await host.stop()
            return
        request = json.loads(line)
        if request["command"] == "stop":
            await host.stop()
            send("ok")
            return
        try:
            result = await commands[request["command"]](**request["args"])
        except Exception as exc:
            log.exception("command %s failed", request["command"])
            send("error", repr(exc))
        else:
            send("ok", result)


if __name__ == "__main__":
    child_main(sys.argv)
