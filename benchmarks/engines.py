"""The two deployments side by side (issue 19): one process on SQLite, and one or two replicas on PostgreSQL.

What differs between them is the storage and the number of processes, so this measures the bot's own work per
answer and per scheduled send with Telegram out of the way (a messenger port that accepts every message at once,
as the service tests' fake does): enrol and activate a cohort, open everyone's baseline with one tick (the
fan-out), then every patient answers the 30 questions as fast as the bot lets them, many patients at once.
Figures: fan-out sends/s, answers/s, per-answer latency p50/p99 (submit → next question handed to the messenger),
and CPU of each process. Telegram's own pacing is measured by the other scenarios (`python -m benchmarks`).

    .venv/bin/python -m benchmarks.engines --database data/bench.sqlite3
    .venv/bin/python -m benchmarks.engines --database postgresql://… [--replicas 2]

With `--replicas 2`, two processes share the database, each answering for half of the patients (the fan-out is one
tick: the tick lease lets one replica run it). The database must be empty (a fresh file, a new PostgreSQL database).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import subprocess
import sys
import time
from datetime import UTC, date, datetime
from typing import Any

from benchmarks.population import SITES_FILE
from bot.bootstrap import build_services
from bot.clock import VirtualClock
from bot.config import load_settings
from bot.domain.enrolment import EnrolmentRequest
from bot.scheduling import dispatcher
from bot.services import answering, enrolment, onboarding
from bot.services.container import Services
from bot.services.prompting import send_prompt

TOKEN = "123456:BENCH-token-not-a-real-one_abcdefgh"
START = datetime(2027, 3, 1, 9, 0, tzinfo=UTC)  # a Monday, 10:00 in Paris
RT = date(2027, 3, 3)
FIRST_USER = 800_000_000


class CountingMessenger:
    """Accepts every message at once (the bot's work only); counts them."""

    def __init__(self) -> None:
        self.sent = 0
        self._id = 0

    def _next(self) -> int:
        self.sent += 1
        self._id += 1
        return self._id

    async def send_text(
        self, chat_id: int, text: str, *, protect: bool = False, acknowledge_alert: int | None = None
    ) -> int:
        return self._next()

    async def send_question(self, chat_id: int, prompt: Any, *, header: str | None = None) -> int:
        return self._next()

    async def edit(self, chat_id: int, message_id: int, *, text: str | None = None) -> None:
        return None

    async def copy(self, chat_id: int, *, from_chat_id: int, message_id: int, reply_to: int | None = None) -> None:
        return None


def benign(item: Any) -> object:
    if item.type == "scale":
        return 3
    if item.type == "yesno":
        return "no"
    if item.type in ("single", "multi"):
        return item.choices[0].code if item.type == "single" else [item.choices[0].code]
    if item.type == "number":
        return 1
    return "_skip" if item.optional else "ok"


async def open_services(database: str, replica: str) -> Services:
    settings = load_settings(
        TELEGRAM_BOT_TOKEN=TOKEN,
        BOT_DATABASE=database,
        CLINICIAN_CHAT_ID=-1001,
        CLINICIAN_USER_IDS="1",
        BOT_REPLICA_ID=replica,
        BOT_FANOUT_SPREAD_MINUTES=0,
        BOT_SITES_FILE=str(SITES_FILE),
    )  # the whole fan-out in one tick, as fast as it goes
    return await build_services(settings, VirtualClock(START))


async def prepare(database: str, patients: int) -> dict[str, float]:
    """Enrol and activate the cohort, then open every baseline with one tick."""
    services = await open_services(database, "prepare")
    try:
        began = time.perf_counter()
        for n in range(patients):
            user = FIRST_USER + n
            invitation = await enrolment.enroll(
                services.store, services.clock, EnrolmentRequest(f"E-{n:05d}", RT), actor="clinician:1"
            )
            await enrolment.redeem(
                services.store, services.clock, code=invitation.code, telegram_user_id=user, chat_id=user
            )
            await onboarding.confirm_information(services, user, 1)
            await onboarding.choose_time_and_activate(services, user, "matin")
        enrolled = time.perf_counter() - began
        messenger = CountingMessenger()
        began = time.perf_counter()
        report = await dispatcher.tick(services, messenger)
        fanout = time.perf_counter() - began
        assert len(report.sent) == patients, (len(report.sent), patients)
        return {"enrol_per_s": patients / enrolled, "fanout_sends_per_s": patients / fanout}
    finally:
        await services.store.close()


async def answer_all(database: str, replica: str, users: list[int], concurrency: int) -> dict[str, Any]:
    """Every user answers their whole baseline, `concurrency` of them at once; latencies of each answer."""
    services = await open_services(database, replica)
    messenger = CountingMessenger()
    latencies: list[float] = []
    queue = list(users)

    async def patient(user: int) -> None:
        while True:
            _, prompt = await answering.current_prompt(services, user)
            if prompt is None:
                return
            value = benign(prompt.item)
            began = time.perf_counter()
            submission = await answering.submit(
                services,
                telegram_user_id=user,
                instance_id=prompt.instance.id,
                item_index=prompt.item_index,
                make_value=lambda _i: value,
                answered_at=None,
            )
            if submission.prompt is not None:
                await send_prompt(messenger, services, user, submission.prompt)
            latencies.append(time.perf_counter() - began)

    async def lane() -> None:
        while queue:
            await patient(queue.pop())

    cpu0 = resource.getrusage(resource.RUSAGE_SELF)
    began = time.perf_counter()
    try:
        await asyncio.gather(*(lane() for _ in range(concurrency)))
    finally:
        await services.store.close()
    wall = time.perf_counter() - began
    cpu1 = resource.getrusage(resource.RUSAGE_SELF)
    cpu = (cpu1.ru_utime - cpu0.ru_utime) + (cpu1.ru_stime - cpu0.ru_stime)
    latencies.sort()
    return {
        "answers": len(latencies),
        "wall_s": wall,
        "cpu_pct": 100 * cpu / wall,
        "p50_ms": 1000 * latencies[len(latencies) // 2],
        "p99_ms": 1000 * latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))],
        "rss_mb": cpu1.ru_maxrss / 1024,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database", required=True, help="an empty SQLite file or PostgreSQL database")
    parser.add_argument("--patients", type=int, default=300)
    parser.add_argument("--concurrency", type=int, default=50, help="patients answering at once (per replica)")
    parser.add_argument("--replicas", type=int, default=1)
    parser.add_argument("--worker", help=argparse.SUPPRESS)  # "replica-id:first:count", run by the parent
    args = parser.parse_args()
    if args.worker:
        replica, first, count = args.worker.split(":")
        users = [FIRST_USER + n for n in range(int(first), int(first) + int(count))]
        print(json.dumps(asyncio.run(answer_all(args.database, replica, users, args.concurrency))))
        return
    prepared = asyncio.run(prepare(args.database, args.patients))
    share = args.patients // args.replicas
    workers = [
        subprocess.Popen(
            [
                sys.executable,
                "-m",
                "benchmarks.engines",
                "--database",
                args.database,
                "--concurrency",
                str(args.concurrency),
                "--worker",
                f"r{i}:{i * share}:{share if i < args.replicas - 1 else args.patients - i * share}",
            ],
            stdout=subprocess.PIPE,
            env=os.environ.copy(),
        )
        for i in range(args.replicas)
    ]
    results = [json.loads(w.communicate()[0]) for w in workers]
    wall = max(r["wall_s"] for r in results)
    answers = sum(r["answers"] for r in results)
    engine = "PostgreSQL" if args.database.startswith(("postgresql://", "postgres://")) else "SQLite"
    summary = {
        "engine": engine,
        "replicas": args.replicas,
        "patients": args.patients,
        **prepared,
        "answers": answers,
        "answers_per_s": answers / wall,
        "p50_ms": max(r["p50_ms"] for r in results),
        "p99_ms": max(r["p99_ms"] for r in results),
        "cpu_pct_per_replica": [round(r["cpu_pct"]) for r in results],
        "rss_mb_per_replica": [round(r["rss_mb"]) for r in results],
    }
    print(json.dumps(summary))
    print(
        f"{engine} × {args.replicas}: fan-out {prepared['fanout_sends_per_s']:.0f} sends/s, "
        f"{summary['answers_per_s']:.0f} answers/s, p50 {summary['p50_ms']:.1f} ms, p99 {summary['p99_ms']:.1f} ms, "
        f"CPU {summary['cpu_pct_per_replica']} %",
        file=sys.stderr,
    )


if __name__ == "__main__":
    main()
