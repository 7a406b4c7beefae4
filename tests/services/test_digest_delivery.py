"""Issue 21 item 2: the 08:30 digest is cut by Telegram's measure (UTF-16 units) on line boundaries, each chunk
Telegram accepted is recorded so a retry never posts it again, and failed attempts back off. The splitter is the
one the clinician commands use too."""

from __future__ import annotations

from datetime import date, timedelta

from harness import CLINICIAN_CHAT, Bench

from bot.delivery import digest
from bot.delivery.splitting import TELEGRAM_MESSAGE_LIMIT, split_message, utf16_length
from bot.storage import alerts, patients

RT = date(2027, 3, 3)
EMOJI_LINES = 24


def test_split_message_cuts_at_line_ends_by_utf16_length() -> None:
    lines = [f"{n:02d} " + "😀" * 500 for n in range(20)]  # 1003 UTF-16 units each, 503 Python characters
    chunks = split_message("\n".join(lines))
    assert all(utf16_length(c) <= TELEGRAM_MESSAGE_LIMIT for c in chunks)
    assert "\n".join(chunks).split("\n") == lines  # nothing lost, no line cut
    assert len(chunks) == 5
    long_line = "é" + "😀" * 5000  # one line too long on its own: cut between characters, never inside a pair
    pieces = split_message(long_line)
    assert "".join(pieces) == long_line and all(utf16_length(p) <= TELEGRAM_MESSAGE_LIMIT for p in pieces)
    assert split_message("\n\n") == [] and split_message("a\n\nb") == ["a\n\nb"]
    assert utf16_length("a😀é") == 4


async def _emoji_alerts(bench: Bench) -> list[str]:
    """Open same-day alerts whose titles are 300 emoji each: the digest is ~15,000 UTF-16 units, ~7,700 chars."""
    await bench.join(4001, "P-D", RT)
    assert bench.services is not None
    titles = [f"T{n:02d} " + "😀" * 300 for n in range(EMOJI_LINES)]
    async with bench.services.store.transaction() as tx:
        patient = await patients.find_by_study_id(tx, "P-D")
        assert patient is not None
        for title in titles:
            await alerts.insert_alert(
                tx,
                patient_id=patient.id,
                instance_id=None,
                rule_id="t",
                severity="same_day",
                payload={"title": title},
                now=bench.clock.now(),
                send_now=False,
            )
        await tx.commit()
    return titles


def _digest_messages(bench: Bench) -> list[str]:
    return [m.text or "" for m in bench.standin.sent_messages(CLINICIAN_CHAT) if "😀" in (m.text or "")]


async def test_an_emoji_heavy_digest_goes_out_whole_in_chunks_telegram_accepts(bench: Bench) -> None:
    titles = await _emoji_alerts(bench)
    assert bench.services is not None and bench.app is not None
    assert await digest.send_digest_if_due(bench.services, bench.messenger)
    sent = _digest_messages(bench)
    assert len(sent) >= 4 and all(utf16_length(t) <= TELEGRAM_MESSAGE_LIMIT for t in sent)
    body = "\n".join(sent)
    assert all(body.count(title) == 1 for title in titles)
    assert not await digest.send_digest_if_due(bench.services, bench.messenger)  # once a day


async def test_a_failure_on_chunk_2_resends_only_the_rest_after_a_back_off(bench: Bench) -> None:
    titles = await _emoji_alerts(bench)
    services, bot = bench.services, bench.messenger  # type: ignore[union-attr]
    assert services is not None
    bench.standin.fail_next(3, status=500, method="sendMessage", after=1)  # chunk 1 passes, then 3 failures
    faults = lambda: bench.standin.stats.faults_injected  # noqa: E731
    assert not await digest.send_digest_if_due(services, bot)
    assert len(_digest_messages(bench)) == 1 and faults() == 1
    # Each failure waits longer (2 s, 4 s, 8 s): a tick before that sends nothing (it used to retry every tick,
    # and post chunk 1 again each time).
    for wait, expected_faults in ((2, 2), (4, 3)):
        bench.clock.advance(timedelta(seconds=wait - 1))
        assert not await digest.send_digest_if_due(services, bot)
        assert faults() == expected_faults - 1, "retried before the back-off ended"
        bench.clock.advance(timedelta(seconds=1))
        assert not await digest.send_digest_if_due(services, bot)
        assert faults() == expected_faults
        assert len(_digest_messages(bench)) == 1
    bench.clock.advance(timedelta(seconds=7))
    assert not await digest.send_digest_if_due(services, bot)
    bench.clock.advance(timedelta(seconds=1))
    assert await digest.send_digest_if_due(services, bot)
    body = "\n".join(_digest_messages(bench))
    assert all(body.count(title) == 1 for title in titles), "a chunk was posted twice or lost"
    assert body.count("Résumé du matin") == 1


async def _finish(bench: Bench) -> bool:
    for _ in range(10):
        bench.clock.advance(timedelta(minutes=5))
        if await digest.send_digest_if_due(bench.services, bench.messenger):  # type: ignore[union-attr]
            return True
    return False


async def test_chunks_already_sent_survive_a_restart(bench: Bench) -> None:
    titles = await _emoji_alerts(bench)
    assert bench.services is not None and bench.app is not None
    bench.standin.fail_next(1, status=500, method="sendMessage", after=2)
    assert not await digest.send_digest_if_due(bench.services, bench.messenger)
    assert len(_digest_messages(bench)) == 2
    await bench.restart()
    assert await _finish(bench)
    body = "\n".join(_digest_messages(bench))
    assert all(body.count(title) == 1 for title in titles)


async def test_the_alerts_command_uses_the_same_splitter(bench: Bench) -> None:
    """/alerts with the emoji-heavy alerts: every reply within Telegram's limit, every alert listed once."""
    titles = await _emoji_alerts(bench)
    await bench.clinician_says("/alerts")
    replies = _digest_messages(bench)
    assert replies and all(utf16_length(t) <= TELEGRAM_MESSAGE_LIMIT for t in replies)
    assert all("\n".join(replies).count(title) == 1 for title in titles)
