"""The four measurements of issue #8, one run each; `run.py` repeats them and takes medians.

Every run builds its own database, stand-in and bot process, so runs are independent. Each run also checks that
the work was really done (answers stored, questionnaires delivered, alerts in the group): a benchmark that can time
errors as if they were answers is worse than none.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import random
import sqlite3
import sys
import time
from collections import Counter
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import Any

from benchmarks.botproc import CLINICIAN_CHAT, BotProcess
from benchmarks.clock import BenchClock
from benchmarks.driver import REPLY_TIMEOUT, Message, Patient, Rig, keyboard, response_latencies
from benchmarks.policy import Action, action_for_message, answer_path
from benchmarks.population import Cohort, Generated, populate
from benchmarks.probes import machine_busy_seconds
from benchmarks.profiling import PySpy, summarize
from benchmarks.stats import latency_summary_ms
from bot.bootstrap import DEFAULT_TICK, QUESTIONNAIRES_DIR
from bot.clock import utc_iso
from bot.domain.questionnaire import Questionnaire, load_questionnaires

#: A Monday: every due time falls on a working-day morning (10:00 Paris, the default "matin" send time).
DUE_DATE = date(2027, 6, 7)
#: Telegram's overall bulk limit, "no more than about 30 messages per second" (Bots FAQ; bot/standin/limits.py).
TELEGRAM_BULK_PER_SECOND = 30
#: The red flag pressed in the alerts scenario: urgent in questionnaires/rules.yaml (NICE NG234,
#: docs/clinical/red-flags.md).
URGENT_ITEM = "rf_weakness"


@dataclass(frozen=True)
class Sizes:
    """How big each scenario is; `FULL` is issue #8's, `QUICK` is for development."""

    answer_patients: int = 50
    answer_timepoint: str = "DD7"
    fanout_patients: int = 10_000
    #: run 1 also measures ALTERNATIVE_LIMITER (one more full fan-out)
    fanout_alternative_pacing: bool = True
    scale_patients: int = 10_000
    due_query_repeats: int = 5
    #: reading time before each tap in the paced variant (uniform; humans take longer, so this is pessimistic)
    answer_think_seconds: tuple[float, float] = (1.0, 3.0)
    #: also run the answer load through the production rate limiter (one more bot process)
    answer_with_rate_limiter: bool = True
    alert_patients: int = 15
    #: other patients whose diaries go out while the red flags are pressed (≥ 60 s of fan-out at ≤ 30/s)
    alert_fanout_patients: int = 1_800
    alert_tick_seconds: float = DEFAULT_TICK.total_seconds()
    #: urgent answers are spread at random over this many tick intervals
    alert_spread_ticks: float = 3.0
    #: issue #18: patients answering at a human pace, the bot as deployed (its pacing, Telegram's limits on)
    pace_patients: int = 100
    pace_think_seconds: tuple[float, float] = (1.0, 2.0)
    #: issue 38: patients start their diary at a random moment over this many seconds (a real morning is not one
    #: instant); 0 = every patient answers the first question as soon as it arrives
    pace_join_seconds: float = 10.0
    #: issue #18: a fan-out of this many diaries at once while `live_answering` patients answer and
    #: `live_red_flags` others press a red flag
    live_fanout_patients: int = 2_000
    live_answering: int = 50
    live_red_flags: int = 10
    live_tick_seconds: float = 5.0
    #: issue #18: this many patients answer the diary at a human pace at once, the bot as deployed (`crowd`)
    crowd_patients: int = 1_000
    crowd_think_seconds: tuple[float, float] = (1.0, 2.0)
    #: issue #18: patients whose every Bot API call is counted, per answer and per questionnaire (`calls`)
    calls_patients: int = 5


FULL = Sizes()
QUICK = Sizes(
    fanout_patients=600, scale_patients=1_000, alert_patients=8, alert_fanout_patients=450, alert_tick_seconds=5.0
)


@dataclass
class Context:
    workdir: Path
    sizes: Sizes
    profile: str | None = None  # name of the scenario to profile (first run only)
    verbose: bool = True

    def say(self, text: str, *args: object) -> None:
        if self.verbose:
            print(text % args if args else text, file=sys.stderr, flush=True)

    def profiling(self, scenario: str, run: int, pid: int) -> contextlib.AbstractAsyncContextManager[Any]:
        if self.profile == scenario and run == 0:
            return PySpy(pid, self.workdir / f"profile-{scenario}.raw")
        return contextlib.nullcontext()

    def profile_summary(self, scenario: str, run: int) -> dict[str, Any] | None:
        raw = self.workdir / f"profile-{scenario}.raw"
        if self.profile == scenario and run == 0 and raw.exists():
            return summarize(raw)
        return None


def _questionnaire(qid: str) -> Questionnaire:
    return load_questionnaires(QUESTIONNAIRES_DIR)[qid]


def _rows(database: Path, sql: str, *params: object) -> list[tuple[Any, ...]]:
    with contextlib.closing(sqlite3.connect(database)) as conn:
        return conn.execute(sql, params).fetchall()


def _execute(database: Path, sql: str, *params: object) -> None:
    with contextlib.closing(sqlite3.connect(database)) as conn:
        conn.execute(sql, params)
        conn.commit()


class CpuMeter:
    """CPU used over a phase, in % of one core: by the bot process, by this driver process, and by everything else
    on the machine (other users' jobs share the cores and distort the figures: the results carry it)."""

    def __init__(self, bot: BotProcess) -> None:
        self.bot = bot

    def __enter__(self) -> CpuMeter:
        self._wall = time.perf_counter()
        self._bot = self.bot.cpu_seconds()
        self._driver = time.process_time()
        self._machine = machine_busy_seconds()
        self.bot_seconds = 0.0
        return self

    def __exit__(self, *exc: object) -> None:
        wall = time.perf_counter() - self._wall
        bot = self.bot.cpu_seconds() - self._bot
        driver = time.process_time() - self._driver
        others = machine_busy_seconds() - self._machine - bot - driver
        self.bot_seconds = bot
        self.bot_pct = round(100 * bot / wall, 1)
        self.driver_pct = round(100 * driver / wall, 1)
        self.others_pct = round(max(0.0, 100 * others / wall), 1)

    def as_dict(self) -> dict[str, float]:
        return {"bot_cpu_pct": self.bot_pct, "driver_cpu_pct": self.driver_pct, "others_cpu_pct": self.others_pct}

    def per_answer_ms(self, answers: int) -> float:
        """Issue 38: the bot process's CPU time (user + system) per answer, in ms — robust to a loaded machine
        where wall-clock rates are not."""
        return round(1000 * self.bot_seconds / max(answers, 1), 3)


# --- 1. answers ------------------------------------------------------------------------------------------------


async def answers(ctx: Context, run: int) -> dict[str, Any]:
    """N patients answer the daily diary at once, tapping as soon as each question arrives, then (next day) at a
    human pace; the real bot, then the bare PTB ceiling in the same conditions (the order alternates by run)."""
    sizes = ctx.sizes
    cohort = Cohort(sizes.answer_patients, sizes.answer_timepoint, DUE_DATE, history=True)
    database = ctx.workdir / f"answers-{run}.sqlite3"
    generated = await populate(database, cohort)
    questionnaire = _questionnaire("daily")
    steps = len(answer_path(questionnaire))
    order = ("product", "bare") if run % 2 == 0 else ("bare", "product")
    saturated: dict[str, dict[str, Any]] = {}
    paced: dict[str, dict[str, Any]] = {}
    for kind in order:
        ctx.say(
            "answers run %s: %s bot, %s patients × %s answers, at once then paced",
            run + 1,
            kind,
            cohort.patients,
            steps,
        )
        saturated[kind], at_pace = await _answer_loads(ctx, run, kind, database, generated, questionnaire, steps)
        assert at_pace is not None
        paced[kind] = at_pace
    next_day = next(p.timepoint for p in generated.plan if p.opens_at > generated.due_at)
    for timepoint in (sizes.answer_timepoint, next_day):
        _check_stored(database, timepoint, cohort.patients, steps)
    with_limiter: dict[str, Any] | None = None
    if sizes.answer_with_rate_limiter:  # as deployed: the same load through the production rate limiter
        limited_database = ctx.workdir / f"answers-limited-{run}.sqlite3"
        limited_generated = await populate(limited_database, cohort)
        ctx.say("answers run %s: product bot with its production rate limiter", run + 1)
        with_limiter, _none = await _answer_loads(
            ctx,
            run,
            "product",
            limited_database,
            limited_generated,
            questionnaire,
            steps,
            rate_limiter=True,
            paced=False,
        )
        _check_stored(limited_database, sizes.answer_timepoint, cohort.patients, steps)
    product, bare = saturated["product"], saturated["bare"]
    result: dict[str, Any] = {
        "patients": cohort.patients,
        "answers_per_patient": steps,
        "product": product,
        "bare": bare,
        "ratio_to_bare": round(product["answers_per_s"] / bare["answers_per_s"], 3),
        "paced": paced,
        "history_answers_in_db": generated.answers,
    }
    if with_limiter is not None:
        result["product_with_rate_limiter"] = with_limiter
    profile = ctx.profile_summary("answers", run)
    if profile:
        result["profile"] = profile
    return result


def _check_stored(database: Path, timepoint: str, patients: int, steps: int) -> None:
    """Every answer of every patient is in the database and every questionnaire is completed."""
    stored = _rows(
        database,
        "SELECT COUNT(*) FROM answers a JOIN instances i ON i.id = a.instance_id WHERE i.timepoint = ?",
        timepoint,
    )[0][0]
    completed = _rows(
        database, "SELECT COUNT(*) FROM instances WHERE timepoint = ? AND status = 'completed'", timepoint
    )[0][0]
    if stored != patients * steps or completed != patients:
        raise AssertionError(
            f"{timepoint}: the bot stored {stored} answers / {completed} completed questionnaires, "
            f"expected {patients * steps} / {patients}"
        )


async def _answer_loads(
    ctx: Context,
    run: int,
    kind: str,
    database: Path,
    generated: Generated,
    questionnaire: Questionnaire,
    steps: int,
    *,
    rate_limiter: bool = False,
    paced: bool = True,
) -> tuple[dict[str, Any], dict[str, Any] | None]:
    """One bot process: today's diary answered as fast as possible, then (`paced`) tomorrow's at a human pace."""
    clock = BenchClock.starting_at(generated.due_at + timedelta(seconds=30))
    rng = random.Random(f"paced-{run}-{kind}")
    low, high = ctx.sizes.answer_think_seconds
    async with Rig(clock) as rig:
        rig.add_patients(generated.user_ids)
        async with BotProcess(rig.spec(kind, str(database), rate_limiter=rate_limiter)) as bot:
            saturated = await _answer_load(
                ctx, run, rig, bot, kind, questionnaire, steps, profiled=kind == "product" and not rate_limiter
            )
            if not paced:
                return saturated, None
            # the last answer's handler may still be looking for a next questionnaire: let it finish on today's date
            await rig.standin.wait_idle(timeout=30, quiet=0.5)
            await _jump(bot, clock, generated.due_at + timedelta(days=1, seconds=30))
            at_pace = await _answer_load(
                ctx, run, rig, bot, kind, questionnaire, steps, think=lambda: rng.uniform(low, high)
            )
    return saturated, at_pace


async def _answer_load(
    ctx: Context,
    run: int,
    rig: Rig,
    bot: BotProcess,
    kind: str,
    questionnaire: Questionnaire,
    steps: int,
    *,
    think: Callable[[], float] | None = None,
    profiled: bool = False,
    profile_as: str = "answers",
    reply_timeout: float = REPLY_TIMEOUT,
    join_seconds: float = 0.0,
    join_rng: random.Random | None = None,
) -> dict[str, Any]:
    """Open a diary for every patient (dispatcher tick, or the bare bot's equivalent), then let them answer it.

    `calls` counts the bot's Bot API calls by method while the patients answer (getUpdates included): the edits
    the pacer defers past the last answer (the tidy lane) are not in it — `calls_per_answer` waits for them."""
    chats = [chat for chat in rig.standin.world.chats if chat > 0]
    before = rig.last_message_ids(chats)
    if kind == "bare":
        await bot.call("open_bare", chat_ids=chats)
    else:
        opened = await bot.call("tick", timeout=3 * 3600)
        if opened["sent"] != len(chats):
            raise AssertionError(f"the dispatcher opened {opened['sent']} questionnaires, not {len(chats)}")
    first = await rig.wait_for_questions(chats, timeout=120, after=before)
    patients = [Patient(rig, chat, questionnaire, timeout=reply_timeout) for chat in chats]
    # issue 38: joins spread over the first seconds (each patient starts reading at a random moment), drawn in the
    # same order for the bot and the bare app
    draw = join_rng or random.Random(0)
    joins = {p.chat_id: draw.uniform(0.0, join_seconds) for p in patients} if join_seconds > 0 else {}
    errors_before = rig.standin.stats.errors
    calls_before = Counter(rig.standin.stats.by_method)
    with CpuMeter(bot) as cpu:
        async with ctx.profiling(profile_as, run, bot.pid) if profiled else contextlib.nullcontext():
            *finals, _ = await asyncio.gather(
                *(p.answer(first[p.chat_id], steps, think, join=joins.get(p.chat_id, 0.0)) for p in patients),
                _cprofile_phases(bot, kind),
            )
    calls = Counter(rig.standin.stats.by_method) - calls_before
    if os.environ.get("SPB_BENCH_TRACE") and kind != "bare":
        name = f"{profile_as}-{kind}-{run}.json"
        await bot.call("trace_dump", name=name)
        # issue 38: each answer's press (real time) and latency by chat, for `benchmarks.tail` to follow the
        # slowest ones step by step through the trace
        offset = rig.clock.start.timestamp() - rig.clock.origin
        records = rig.standin.requests("sendMessage")
        presses = [
            [p.chat_id, at - offset, latency]
            for p in patients
            for at, latency in response_latencies(records, {p.chat_id: p.injected})
        ]
        Path(os.environ["SPB_BENCH_TRACE"], f"{name}.presses.json").write_text(json.dumps(presses))
    if any(keyboard(m) for m in finals):
        raise AssertionError("a questionnaire did not end after the expected answers")
    pairs = response_latencies(rig.standin.requests("sendMessage"), {p.chat_id: p.injected for p in patients})
    latencies = [latency for _at, latency in pairs]
    # Every patient got the first question in the same tick, so their first answers all come in the same second:
    # that burst holds the top of the distribution for the bot and the bare app alike. Without each patient's first
    # answer: the tail at a steady human pace (reported beside the whole distribution, not instead of it).
    after_first = response_latencies(rig.standin.requests("sendMessage"), {p.chat_id: p.injected[1:] for p in patients})
    window = max(at + latency for at, latency in pairs) - min(at for at, _latency in pairs)
    if os.environ.get("SPB_BENCH_DUMP"):
        Path(os.environ["SPB_BENCH_DUMP"], f"{profile_as}-{kind}-{run}.json").write_text(json.dumps(pairs))
    return {
        "answers": len(pairs),
        "seconds": round(window, 3),
        "answers_per_s": round(len(pairs) / window, 1),
        "latency": latency_summary_ms(latencies),
        "latency_after_first_answers": latency_summary_ms([latency for _at, latency in after_first]),
        **cpu.as_dict(),
        "bot_cpu_ms_per_answer": cpu.per_answer_ms(len(pairs)),
        "api_errors": rig.standin.stats.errors - errors_before,
        "calls": dict(sorted(calls.items())),
    }


async def _cprofile_phases(bot: BotProcess, kind: str) -> None:
    """With SPB_BENCH_CPROFILE=DIR, profile the bot's event loop for the first 2 s of the load (every patient's
    first answer) and for the next 10 s (a development aid; pstats files in DIR)."""
    where = os.environ.get("SPB_BENCH_CPROFILE")
    if not where:
        return
    suffix = "" if kind != "bare" else "-bare"  # the bare app too, to compare function by function (issue 38)
    for phase, seconds in (("first", 2.0), ("steady", 10.0)):
        await bot.call("cprofile_start")
        await asyncio.sleep(seconds)
        await bot.call("cprofile_stop", path=str(Path(where, f"{phase}{suffix}.pstats")))


# --- 2. fan-out ------------------------------------------------------------------------------------------------


#: The pacing measured beside the shipped one: PTB's AIORateLimiter with a bucket of one message every 1/29 s —
#: what the bot shipped before `bot.telegram.pacing` (burst-free, 3 % margin, 94 % of 30/s).
ALTERNATIVE_LIMITER = (1.0, 1 / (TELEGRAM_BULK_PER_SECOND - 1))


async def fanout(ctx: Context, run: int) -> dict[str, Any]:
    """All patients' diaries due at the same minute; one real tick against the flood-limited stand-in.

    The first run also measures `ALTERNATIVE_LIMITER` in place of the shipped pacing, on the same population."""
    result = await _fanout_run(ctx, run, limiter=None)
    if run == 0 and ctx.sizes.fanout_alternative_pacing:
        alternative = await _fanout_run(ctx, run, limiter=ALTERNATIVE_LIMITER)
        result["alternative_pacing"] = {
            key: alternative[key]
            for key in ("messages_accepted", "delivered", "tick_seconds", "rate_per_s", "rate_vs_30", "http_429")
        }
        result["alternative_pacing"]["messages_per_second"] = round(ALTERNATIVE_LIMITER[0] / ALTERNATIVE_LIMITER[1], 2)
    return result


async def _fanout_run(ctx: Context, run: int, limiter: tuple[float, float] | None) -> dict[str, Any]:
    sizes = ctx.sizes
    cohort = Cohort(sizes.fanout_patients, "DD3", DUE_DATE, history=False)
    variant = "alternative" if limiter else "shipped"
    database = ctx.workdir / f"fanout-{variant}-{run}.sqlite3"
    generated = await populate(database, cohort)
    clock = BenchClock.starting_at(generated.due_at + timedelta(seconds=30))
    ctx.say(
        "fanout run %s (%s pacing): %s patients due at %s",
        run + 1,
        variant,
        cohort.patients,
        generated.due_at.isoformat(),
    )
    async with Rig(clock, enforce_limits=True) as rig:
        rig.add_patients(generated.user_ids)
        async with BotProcess(rig.spec("product", str(database), rate_limiter=True, limiter=limiter)) as bot:
            profiled = ctx.profiling("fanout", run, bot.pid) if limiter is None else contextlib.nullcontext()
            with CpuMeter(bot) as cpu:
                async with profiled, _progress(ctx, rig, cohort.patients):
                    started = clock.timestamp()
                    report = await bot.call("tick", timeout=3 * 3600)
            memory = bot.memory_kb()
        sends = rig.standin.requests("sendMessage")
        stats = rig.standin.stats
    accepted = sorted(r.time for r in sends if r.ok)
    delivered = _rows(
        database,
        "SELECT COUNT(*) FROM instances WHERE timepoint = 'DD3' AND status = 'open'"
        " AND question_message_id IS NOT NULL",
    )[0][0]
    span = accepted[-1] - accepted[0] if len(accepted) > 1 else 0.0
    rate = (len(accepted) - 1) / span if span > 0 else 0.0
    result = {
        "patients": cohort.patients,
        "messages_accepted": len(accepted),
        "delivered": delivered,
        "opened_by_tick": report["sent"],
        "tick_seconds": round(report["seconds"], 2),
        "first_send_after_s": round(accepted[0] - started, 3) if accepted else None,
        "rate_per_s": round(rate, 2),
        "rate_vs_30": round(rate / TELEGRAM_BULK_PER_SECOND, 3),
        "http_429": stats.rate_limited,
        "flood_limited": stats.flood_limited,
        "api_errors": stats.errors,
        **cpu.as_dict(),
        "bot_rss_mb": round(memory["VmRSS"] / 1024, 1),
    }
    profile = ctx.profile_summary("fanout", run) if limiter is None else None
    if profile:
        result["profile"] = profile
    return result


@contextlib.asynccontextmanager
async def _progress(ctx: Context, rig: Rig, expected: int, every: float = 60.0) -> AsyncIterator[None]:
    """A line on stderr every minute of a long fan-out (it lasts ≥ 2 × patients / 30 seconds)."""

    async def report() -> None:
        while True:
            await asyncio.sleep(every)
            sent = sum(1 for r in rig.standin.requests("sendMessage") if r.ok)
            ctx.say("  … %s messages accepted (%s patients), %s × 429", sent, expected, rig.standin.stats.rate_limited)

    task = asyncio.create_task(report())
    try:
        yield
    finally:
        task.cancel()


# --- 3. scale --------------------------------------------------------------------------------------------------


async def scale_database(ctx: Context) -> tuple[Path, Generated]:
    """10,000 patients at day 88 with every earlier questionnaire answered; D90 opens at the due time."""
    database = ctx.workdir / "scale.sqlite3"
    cohort = Cohort(ctx.sizes.scale_patients, "D90", DUE_DATE, history=True)
    ctx.say("scale: generating %s patients with their history (one-off)…", cohort.patients)
    started = time.perf_counter()
    generated = await populate(database, cohort)
    ctx.say("scale: %s answers in %.0f s", generated.answers, time.perf_counter() - started)
    return database, generated


async def scale(ctx: Context, run: int, database: Path, generated: Generated) -> dict[str, Any]:
    """Steady tick, due query with everyone due, tick with everyone's questionnaire open; the bot's memory."""
    n = len(generated.user_ids)
    due_at = generated.due_at
    _execute(database, "UPDATE instances SET status = 'planned', sent_at = NULL WHERE timepoint = 'D90'")
    clock = BenchClock.starting_at(due_at - timedelta(hours=1))
    ctx.say("scale run %s: %s patients", run + 1, n)
    async with Rig(clock) as rig:
        rig.add_patients(generated.user_ids)
        async with BotProcess(rig.spec("product", str(database), rate_limiter=True)) as bot:
            with CpuMeter(bot) as cpu:
                async with ctx.profiling("scale", run, bot.pid):
                    steady = await bot.call("tick")
                    await _jump(bot, clock, due_at + timedelta(seconds=30))
                    due = await bot.call("due_query", repeat=ctx.sizes.due_query_repeats)
                    _execute(
                        database,
                        "UPDATE instances SET status = 'open', sent_at = ? WHERE timepoint = 'D90'",
                        utc_iso(due_at),
                    )
                    await _jump(bot, clock, due_at + timedelta(hours=1))
                    waiting = await bot.call("tick")
            memory = bot.memory_kb()
    if steady["sent"] or waiting["sent"] or waiting["reminded"]:
        raise AssertionError(f"scale ticks were meant to send nothing: {steady}, {waiting}")
    if due["rows"] != n:
        raise AssertionError(f"the due query found {due['rows']} patients, expected {n}")
    size = sum(p.stat().st_size for p in database.parent.glob(database.name + "*"))
    result = {
        "patients": n,
        "answers_in_db": generated.answers,
        "db_mb": round(size / 2**20, 1),
        "due_query_s": round(sorted(due["seconds"])[len(due["seconds"]) // 2], 4),
        "due_rows": due["rows"],
        "due_query_plan": due["query_plan"],
        "tick_nothing_due_s": round(steady["seconds"], 4),
        "tick_all_open_s": round(waiting["seconds"], 4),
        "bot_rss_mb": round(memory["VmRSS"] / 1024, 1),
        "bot_peak_rss_mb": round(memory["VmHWM"] / 1024, 1),
        "others_cpu_pct": cpu.others_pct,
    }
    profile = ctx.profile_summary("scale", run)
    if profile:
        result["profile"] = profile
    return result


async def _jump(bot: BotProcess, clock: BenchClock, moment: Any) -> None:
    clock.jump(moment)
    await bot.call("set_clock", at=moment.timestamp())


# --- 4. alerts ------------------------------------------------------------------------------------------------


async def alerts(ctx: Context, run: int) -> dict[str, Any]:
    """Red flag pressed → alert in the clinicians' group, with the real tick job and the production rate limiter:
    on a quiet bot, then while the morning fan-out of other patients' diaries is under way (both at 10:00)."""
    return {
        "idle": await _alert_run(ctx, run, "idle", fanout_patients=0),
        "during_fanout": await _alert_run(ctx, run, "during_fanout", fanout_patients=ctx.sizes.alert_fanout_patients),
    }


async def _alert_run(ctx: Context, run: int, variant: str, *, fanout_patients: int) -> dict[str, Any]:
    sizes = ctx.sizes
    cohort = Cohort(sizes.alert_patients, "DD3", DUE_DATE, history=True)
    database = ctx.workdir / f"alerts-{variant}-{run}.sqlite3"
    generated = await populate(database, cohort)  # first: lower patient ids, their diaries go out first
    others: list[int] = []
    if fanout_patients:
        crowd = Cohort(
            fanout_patients, "DD3", DUE_DATE, history=False, prefix="F", first_user_id=cohort.first_user_id + 1_000_000
        )
        others = (await populate(database, crowd)).user_ids
    questionnaire = _questionnaire("daily")
    tick = sizes.alert_tick_seconds
    spread = tick * sizes.alert_spread_ticks
    rng = random.Random(f"{run}-{variant}")
    clock = BenchClock.starting_at(generated.due_at + timedelta(seconds=30))
    ctx.say(
        "alerts run %s (%s): %s red flags over %.0f s, tick every %.0f s, %s other diaries going out",
        run + 1,
        variant,
        cohort.patients,
        spread,
        tick,
        fanout_patients,
    )
    async with Rig(clock, enforce_limits=True) as rig:
        rig.add_patients(generated.user_ids + others)
        spec = rig.spec("product", str(database), rate_limiter=True, tick_seconds=tick)
        async with BotProcess(spec) as bot:
            first = await rig.wait_for_questions(generated.user_ids, timeout=tick + 60)
            patients = [Patient(rig, chat, questionnaire) for chat in generated.user_ids]
            delays = [rng.uniform(0, spread) for _ in patients]
            expected = set(generated.study_ids)

            def alerted() -> set[str]:
                texts = [
                    str(r.params.get("text", "")) for r in rig.standin.requests("sendMessage", CLINICIAN_CHAT) if r.ok
                ]
                return {s for s in expected if any(s in t for t in texts)}

            with CpuMeter(bot) as cpu:
                pressed = await asyncio.gather(
                    *(_press_red_flag(p, first[p.chat_id], delay) for p, delay in zip(patients, delays))
                )
                await rig.standin.wait_for(lambda: alerted() == expected, timeout=spread + 3 * tick + 60)
            records = rig.standin.requests("sendMessage")
            http_429 = rig.standin.stats.rate_limited
    group = [r for r in records if r.ok and r.chat_id is not None and int(r.chat_id) == CLINICIAN_CHAT]
    latencies = []
    for study_id, at in zip(generated.study_ids, pressed):
        arrival = min(r.time for r in group if study_id in str(r.params.get("text", "")))
        latencies.append(arrival - at)
    emergency = [lat for _at, lat in response_latencies(records, {p.chat_id: [at] for p, at in zip(patients, pressed)})]
    crowd = set(others)
    crowd_sends = sorted(r.time for r in records if r.ok and r.chat_id is not None and int(r.chat_id) in crowd)
    during = sum(1 for at in pressed if crowd_sends and crowd_sends[0] <= at <= crowd_sends[-1])
    return {
        "alerts": len(latencies),
        "tick_seconds": tick,
        "fanout_patients": fanout_patients,
        "red_flags_during_fanout": during,
        "http_429": http_429,
        "latency": _seconds(latency_summary_ms(latencies)),
        "patient_emergency_message": latency_summary_ms(emergency),
        **cpu.as_dict(),
    }


def _seconds(summary: dict[str, float]) -> dict[str, float]:
    return {k.replace("_ms", "_s"): (round(v / 1000, 3) if k != "n" else v) for k, v in summary.items()}


async def _press_red_flag(patient: Patient, message: Message, delay: float) -> float:
    """Answer benignly up to the red-flag question, wait `delay`, press "yes"; return the press time."""
    while action_for_message(patient.questionnaire, keyboard(message))[1].item.id != URGENT_ITEM:
        _action, message = await patient.step(message)
    await asyncio.sleep(delay)
    await patient.step(message, override=lambda action: Action("press", action.item, code="yes"))
    return patient.injected[-1]


# --- 5. pace (issue #18) ----------------------------------------------------------------------------------------


async def pace(ctx: Context, run: int) -> dict[str, Any]:
    """N patients answer the diary at a human pace (1–2 s reading per question): the bot as deployed — its
    pacing, the stand-in enforcing Telegram's limits — and the bare PTB app (no limiter, no flood control: it
    would be refused) in the same run, the order alternating by run."""
    sizes = ctx.sizes
    cohort = Cohort(sizes.pace_patients, sizes.answer_timepoint, DUE_DATE, history=True)
    questionnaire = _questionnaire("daily")
    steps = len(answer_path(questionnaire))
    low, high = sizes.pace_think_seconds
    result: dict[str, Any] = {
        "patients": cohort.patients,
        "answers_per_patient": steps,
        "think_seconds": [low, high],
        "join_seconds": sizes.pace_join_seconds,
    }
    for kind in ("product", "bare") if run % 2 == 0 else ("bare", "product"):
        database = ctx.workdir / f"pace-{kind}-{run}.sqlite3"
        generated = await populate(database, cohort)
        clock = BenchClock.starting_at(generated.due_at + timedelta(seconds=30))
        rng = random.Random(f"pace-{run}")
        product = kind == "product"
        ctx.say(
            "pace run %s: %s bot, %s patients reading %s–%s s per question", run + 1, kind, cohort.patients, low, high
        )
        async with Rig(clock, enforce_limits=product) as rig:
            rig.add_patients(generated.user_ids)
            async with BotProcess(rig.spec(kind, str(database), rate_limiter=product)) as bot:
                load = await _answer_load(
                    ctx,
                    run,
                    rig,
                    bot,
                    kind,
                    questionnaire,
                    steps,
                    think=lambda: rng.uniform(low, high),
                    join_seconds=sizes.pace_join_seconds,
                    join_rng=random.Random(f"pace-joins-{run}"),
                    profiled=product,
                    profile_as="pace",
                )
                load["http_429"] = rig.standin.stats.rate_limited
                load["bot_rss_mb"] = round(bot.memory_kb()["VmRSS"] / 1024, 1)
                if product:
                    load["pacing"] = await bot.call("pacing")
                    if os.environ.get("SPB_BENCH_LOCKSTATS"):
                        load["lockstats"] = await bot.call("lockstats")
        if product:
            _check_stored(database, sizes.answer_timepoint, cohort.patients, steps)
        result[kind] = load
    result["ratio_to_bare"] = round(result["product"]["answers_per_s"] / result["bare"]["answers_per_s"], 3)
    result["p99_ratio_to_bare"] = round(
        result["product"]["latency"]["p99_ms"] / max(result["bare"]["latency"]["p99_ms"], 0.001), 2
    )
    result["cpu_per_answer_ratio_to_bare"] = _cpu_ratio(result)
    profile = ctx.profile_summary("pace", run)
    if profile:
        result["profile"] = profile
    return result


def _cpu_ratio(result: dict[str, Any]) -> float:
    """Issue 38: the bot's CPU time per answer ÷ the bare app's, in the same run."""
    return round(result["product"]["bot_cpu_ms_per_answer"] / max(result["bare"]["bot_cpu_ms_per_answer"], 0.001), 3)


# --- 6. live fan-out (issue #18) --------------------------------------------------------------------------------


async def live_fanout(ctx: Context, run: int) -> dict[str, Any]:
    """A large fan-out at 10:00 (spread switched off: the hardest case) while patients already answer at a human
    pace and others press a red flag; the real tick job, production pacing, Telegram's limits in the stand-in.
    The bare PTB app answers the same patients at the same pace in the same run, for the ratio."""
    sizes = ctx.sizes
    questionnaire = _questionnaire("daily")
    steps = len(answer_path(questionnaire))
    answering = Cohort(sizes.live_answering + sizes.live_red_flags, "DD3", DUE_DATE, history=True)
    database = ctx.workdir / f"live-{run}.sqlite3"
    generated = await populate(database, answering)  # first: lower patient ids, their diaries go out first
    crowd = Cohort(
        sizes.live_fanout_patients,
        "DD3",
        DUE_DATE,
        history=False,
        prefix="F",
        first_user_id=answering.first_user_id + 1_000_000,
    )
    others = (await populate(database, crowd)).user_ids
    tick = sizes.live_tick_seconds
    low, high = sizes.pace_think_seconds
    rng = random.Random(f"live-{run}")
    clock = BenchClock.starting_at(generated.due_at + timedelta(seconds=30))
    flagged_ids = generated.user_ids[: sizes.live_red_flags]
    answering_ids = generated.user_ids[sizes.live_red_flags :]
    ctx.say(
        "live fan-out run %s: %s diaries going out, %s patients answering, %s red flags",
        run + 1,
        crowd.patients,
        len(answering_ids),
        len(flagged_ids),
    )
    async with Rig(clock, enforce_limits=True) as rig:
        rig.add_patients(generated.user_ids + others)
        spec = rig.spec("product", str(database), rate_limiter=True, tick_seconds=tick)
        async with BotProcess(spec) as bot:
            first = await rig.wait_for_questions(generated.user_ids, timeout=tick + 120)
            readers = [Patient(rig, chat, questionnaire) for chat in answering_ids]
            flaggers = [Patient(rig, chat, questionnaire) for chat in flagged_ids]
            study = dict(zip(generated.user_ids, generated.study_ids))
            with CpuMeter(bot) as cpu:
                fanned_before = _sent_to(rig, set(others))
                answered, pressed = await asyncio.gather(
                    asyncio.gather(
                        *(p.answer(first[p.chat_id], steps, lambda: rng.uniform(low, high)) for p in readers)
                    ),
                    asyncio.gather(*(_press_red_flag(p, first[p.chat_id], rng.uniform(0, 20.0)) for p in flaggers)),
                )
                expected = {study[c] for c in flagged_ids}

                def alerted() -> set[str]:
                    texts = [
                        str(r.params.get("text", ""))
                        for r in rig.standin.requests("sendMessage", CLINICIAN_CHAT)
                        if r.ok
                    ]
                    return {s for s in expected if any(s in t for t in texts)}

                await rig.standin.wait_for(lambda: alerted() == expected, timeout=60)
                fanned_during = _sent_to(rig, set(others)) - fanned_before
            records = rig.standin.requests("sendMessage")
            http_429 = rig.standin.stats.rate_limited
            memory = bot.memory_kb()
            pacing = await bot.call("pacing")
    if any(keyboard(m) for m in answered):
        raise AssertionError("a questionnaire did not end after the expected answers")
    pairs = response_latencies(records, {p.chat_id: p.injected for p in readers})
    group = [r for r in records if r.ok and r.chat_id is not None and int(r.chat_id) == CLINICIAN_CHAT]
    alert_latencies = []
    for chat, at in zip(flagged_ids, pressed):
        arrival = min(r.time for r in group if study[chat] in str(r.params.get("text", "")))
        alert_latencies.append(arrival - at)
    bare = await _bare_at_pace(ctx, run, answering_ids, generated, questionnaire, steps)
    latency = latency_summary_ms([lat for _at, lat in pairs])
    return {
        "fanout_patients": crowd.patients,
        "answering": len(readers),
        "red_flags": len(flaggers),
        "fanout_sends_during_answers": fanned_during,
        "answers": len(pairs),
        "press_to_next": latency,
        "alert_to_group": _seconds(latency_summary_ms(alert_latencies)),
        "http_429": http_429,
        **cpu.as_dict(),
        "bot_rss_mb": round(memory["VmRSS"] / 1024, 1),
        "pacing": pacing,
        "bare_press_to_next": bare["latency"],
        "p99_ratio_to_bare": round(latency["p99_ms"] / max(bare["latency"]["p99_ms"], 0.001), 2),
    }


def _sent_to(rig: Rig, chats: set[int]) -> int:
    return sum(
        1 for r in rig.standin.requests("sendMessage") if r.ok and r.chat_id is not None and int(r.chat_id) in chats
    )


async def _bare_at_pace(
    ctx: Context, run: int, chats: list[int], generated: Generated, questionnaire: Questionnaire, steps: int
) -> dict[str, Any]:
    """The bare PTB app, the same patients at the same pace (no fan-out: it has no scheduler)."""
    low, high = ctx.sizes.pace_think_seconds
    rng = random.Random(f"live-bare-{run}")
    clock = BenchClock.starting_at(generated.due_at + timedelta(seconds=30))
    async with Rig(clock) as rig:
        rig.add_patients(chats)
        async with BotProcess(rig.spec("bare", str(ctx.workdir / f"live-bare-{run}.sqlite3"))) as bot:
            return await _answer_load(
                ctx, run, rig, bot, "bare", questionnaire, steps, think=lambda: rng.uniform(low, high)
            )


# --- 7. crowd (issue #18) ---------------------------------------------------------------------------------------


async def crowd(ctx: Context, run: int) -> dict[str, Any]:
    """Issue #18: 1,000 patients answer the diary at a human pace (1–2 s reading per question) at once, against the
    bot as deployed — production pacing, the stand-in enforcing Telegram's limits — then the bare PTB app with the
    same patients at the same pace (no limiter, no flood control), the order alternating by run.

    The diaries open by one real dispatcher tick (a bulk fan-out at 30/s, ~35 s for 1,000); the patients start
    reading when every one of them has the first question, so they all answer at once. Reported: answers/s, press →
    next question, CPU of the bot and of the driver (which hosts the stand-in and the patients: if it saturates,
    the figures measure it, not the bot), RSS, 429s, the pacer's statistics, Bot API calls per answer."""
    sizes = ctx.sizes
    cohort = Cohort(sizes.crowd_patients, sizes.answer_timepoint, DUE_DATE, history=True)
    questionnaire = _questionnaire("daily")
    steps = len(answer_path(questionnaire))
    low, high = sizes.crowd_think_seconds
    result: dict[str, Any] = {"patients": cohort.patients, "answers_per_patient": steps, "think_seconds": [low, high]}
    for kind in ("product", "bare") if run % 2 == 0 else ("bare", "product"):
        database = ctx.workdir / f"crowd-{kind}-{run}.sqlite3"
        generated = await populate(database, cohort)
        clock = BenchClock.starting_at(generated.due_at + timedelta(seconds=30))
        rng = random.Random(f"crowd-{run}")
        product = kind == "product"
        ctx.say(
            "crowd run %s: %s bot, %s patients reading %s–%s s per question", run + 1, kind, cohort.patients, low, high
        )
        async with Rig(clock, enforce_limits=product) as rig:
            rig.add_patients(generated.user_ids)
            async with BotProcess(rig.spec(kind, str(database), rate_limiter=product)) as bot:
                load = await _answer_load(
                    ctx,
                    run,
                    rig,
                    bot,
                    kind,
                    questionnaire,
                    steps,
                    think=lambda: rng.uniform(low, high),
                    profiled=product,
                    profile_as="crowd",
                    reply_timeout=600.0,
                )
                memory = bot.memory_kb()
                load["bot_rss_mb"] = round(memory["VmRSS"] / 1024, 1)
                load["bot_peak_rss_mb"] = round(memory["VmHWM"] / 1024, 1)
                load["http_429"] = rig.standin.stats.rate_limited
                if product:
                    load["pacing"] = await bot.call("pacing")
                    if os.environ.get("SPB_BENCH_LOCKSTATS"):
                        load["lockstats"] = await bot.call("lockstats")
        if product:
            _check_stored(database, sizes.answer_timepoint, cohort.patients, steps)
        result[kind] = load
    result["ratio_to_bare"] = round(result["product"]["answers_per_s"] / result["bare"]["answers_per_s"], 3)
    result["offered_answers_per_s"] = round(cohort.patients / ((low + high) / 2), 1)
    result["cpu_per_answer_ratio_to_bare"] = _cpu_ratio(result)
    profile = ctx.profile_summary("crowd", run)
    if profile:
        result["profile"] = profile
    return result


# --- 8. calls per answer (issue #18) ----------------------------------------------------------------------------


async def calls(ctx: Context, run: int) -> dict[str, Any]:
    """Issue #18: every Bot API call the bot makes while patients answer the diary, per answered question and per
    completed questionnaire, by method — the bot as deployed (production pacing, Telegram's limits in the stand-in),
    patients reading 1–2 s per question. Counted from the first answer until the bot is idle again (the edits the
    pacer defers to a quiet moment included); getUpdates is counted apart (it depends on how updates batch)."""
    sizes = ctx.sizes
    cohort = Cohort(sizes.calls_patients, sizes.answer_timepoint, DUE_DATE, history=True)
    questionnaire = _questionnaire("daily")
    path = answer_path(questionnaire)
    steps = len(path)
    presses = sum(1 for action in path if action.kind != "type")
    low, high = sizes.pace_think_seconds
    database = ctx.workdir / f"calls-{run}.sqlite3"
    generated = await populate(database, cohort)
    clock = BenchClock.starting_at(generated.due_at + timedelta(seconds=30))
    rng = random.Random(f"calls-{run}")
    ctx.say("calls run %s: %s patients answer the diary, every Bot API call counted", run + 1, cohort.patients)
    async with Rig(clock, enforce_limits=True) as rig:
        rig.add_patients(generated.user_ids)
        async with BotProcess(rig.spec("product", str(database), rate_limiter=True)) as bot:
            chats = list(generated.user_ids)
            await bot.call("tick")
            first = await rig.wait_for_questions(chats, timeout=120)
            patients = [Patient(rig, chat, questionnaire) for chat in chats]
            before = Counter(rig.standin.stats.by_method)
            await asyncio.gather(*(p.answer(first[p.chat_id], steps, lambda: rng.uniform(low, high)) for p in patients))
            # the pacer shows the chosen answers once the chat's budget is untouched: wait until the last is shown
            await rig.standin.wait_for(lambda: _answers_shown(rig, chats) == len(chats) * steps, timeout=600)
            await rig.standin.wait_idle(timeout=60, quiet=1.0)
            counted = Counter(rig.standin.stats.by_method) - before
            http_429 = rig.standin.stats.rate_limited
    _check_stored(database, sizes.answer_timepoint, cohort.patients, steps)
    polls = counted.pop("getUpdates", 0)
    answers = cohort.patients * steps
    total = sum(counted.values())
    return {
        "patients": cohort.patients,
        "answers_per_patient": steps,
        "presses_per_patient": presses,
        "by_method": dict(sorted(counted.items())),
        "per_answer": round(total / answers, 3),
        "per_questionnaire": round(total / cohort.patients, 2),
        "per_questionnaire_by_method": {m: round(n / cohort.patients, 2) for m, n in sorted(counted.items())},
        "chat_budget_per_answer": round(
            sum(n for m, n in counted.items() if m.startswith(("send", "edit"))) / answers, 3
        ),
        "get_updates_per_answer": round(polls / answers, 3),
        "http_429": http_429,
    }


def _answers_shown(rig: Rig, chats: list[int]) -> int:
    """Questions now edited to show the chosen answer (they had buttons, they have none), over `chats`."""
    return sum(
        1
        for chat in chats
        for m in rig.standin.sent_messages(chat)
        if m.edited and not m.buttons() and any(edit.reply_markup for edit in m.history)
    )
