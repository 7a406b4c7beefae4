"""Every word a patient sends reaches the team, and nothing dangerous is silent (issue 31 item 3-4, issue 39 item 2).

End to end through the real Application and the stand-in: danger groups each get their own alert and advice, a
same-group repeat still reaches the group, media are copied with retries, one-word messages typed beside a question
are kept and screened, a burst of 20 texts reaches the group in full, and every reply to free text carries the safety
line and the true reading time.
"""

from __future__ import annotations

import sqlite3
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from harness import Bench, Patient, answer_all, current_prompt

from bot.domain.free_text_screen import FreeTextFlag
from bot.services.patient_messages import advice_for_flags, danger_groups

RT = date(2027, 3, 3)
ON_CALL = "01 99 00 20 20"  # the default site's on-call number (questionnaires/sites.yaml)


def rows(bench: Bench, sql: str, *params: object) -> list[tuple]:
    return sqlite3.connect(bench.database).execute(sql, params).fetchall()


def group_texts(bench: Bench) -> list[str]:
    return [m.text or "" for m in bench.group_messages()]


def urgent_alerts(bench: Bench) -> list[str]:
    return [t for t in group_texts(bench) if "ALERTE URGENTE" in t]


def has_safety_line(text: str) -> bool:
    return all(part in text for part in ("15 (SAMU)", "112", "114", ON_CALL))


@asynccontextmanager
async def bench_at(tmp_path: Path, start: datetime) -> AsyncIterator[Bench]:
    bench = Bench(tmp_path, start=start)
    await bench.start()
    try:
        yield bench
    finally:
        await bench.stop()


async def says(bench: Bench, patient: Patient, text: str) -> list[str]:
    """The patient writes; return the bot's replies to it."""
    before = len(bench.texts(patient.chat_id))
    await bench.patient_says(patient, text)
    return bench.texts(patient.chat_id)[before:]


async def quiet(bench: Bench, patient: Patient) -> Patient:
    await answer_all(bench, patient)  # baseline done: nothing is open
    return patient


# ------------------------------------------------------------------------------------ 1. danger groups


def flag(category: str, severity: str = "urgent") -> FreeTextFlag:
    return FreeTextFlag(category, category, severity)


@pytest.mark.parametrize(
    ("categories", "expected"),
    [
        (["suicidal", "fever"], "suicide"),
        (["fever", "bleeding"], "emergency"),
        (["unconscious"], "emergency"),
        (["chest_breathing"], "emergency"),
        (["urinary_retention", "fever"], "neuro"),
        (["numbness"], "neuro"),
        (["overdose"], "toxicity"),
        (["confusion", "fever"], "toxicity"),
        (["fever"], "fever"),
        (["unbearable_pain"], "urgent"),
        (["vomiting_swallowing"], "same_day"),
    ],
)
def test_screen_categories_map_to_their_danger_group_most_pressing_first(categories: list[str], expected: str) -> None:
    flags = tuple(flag(c) for c in categories)
    assert advice_for_flags(flags) == expected
    assert danger_groups(flags)[0] == expected
    assert advice_for_flags((flag("thirst", "same_day"),)) == "same_day"


async def test_a_second_different_red_flag_gets_its_own_alert_and_advice_and_a_repeat_joins_but_is_posted(
    bench: Bench,
) -> None:
    patient = await quiet(bench, await bench.join(6001, "P-M1", RT))
    first = await says(bench, patient, "je ne sens plus mes jambes")
    await bench.tick()
    assert len(urgent_alerts(bench)) == 1 and any("même s'il a diminué" in t for t in first)

    bench.clock.advance(timedelta(minutes=5))
    second = await says(bench, patient, "et j'ai de la fièvre")  # another danger group, 5 minutes later
    await bench.tick()
    alerts = urgent_alerts(bench)
    assert len(alerts) == 2 and "et j'ai de la fièvre" in alerts[1] and "P-M1" in alerts[1]
    assert any("fièvre avec une chimiothérapie" in t for t in second)  # its own advice
    assert not any("même s'il a diminué" in t for t in second)

    bench.clock.advance(timedelta(minutes=5))
    third = await says(bench, patient, "je suis tombé dans la cuisine")  # neuro again: joins the open alert
    await bench.tick()
    assert len(urgent_alerts(bench)) == 2
    assert not any("Appelez maintenant le 15 (SAMU) ou le 112" in t for t in third)  # not the same advice again
    assert third and has_safety_line(third[-1]) and "L'équipe le lira aujourd'hui" in third[-1]
    (followup,) = [t for t in group_texts(bench) if "je suis tombé dans la cuisine" in t]
    assert "P-M1" in followup and "rattaché à l'alerte" in followup and "ALERTE URGENTE" not in followup
    neuro, fever = rows(bench, "SELECT id FROM alerts WHERE rule_id = 'free_text_red_flag' ORDER BY id")
    assert rows(bench, "SELECT alert_id FROM patient_messages ORDER BY id") == [neuro, fever, neuro]
    assert rows(bench, "SELECT advice FROM patient_notices ORDER BY id") == [("neuro",), ("fever",)]


async def test_a_red_flag_of_the_same_group_more_than_30_minutes_later_alerts_again(bench: Bench) -> None:
    patient = await quiet(bench, await bench.join(6002, "P-M2", RT))
    await says(bench, patient, "je ne sens plus mes jambes")
    bench.clock.advance(timedelta(minutes=31))
    await says(bench, patient, "je ne sens toujours plus mes jambes")
    await bench.tick()
    assert rows(bench, "SELECT COUNT(*) FROM alerts WHERE rule_id = 'free_text_red_flag'") == [(2,)]


async def test_suicidal_words_after_a_neurological_alert_get_their_own_alert_and_3114(bench: Bench) -> None:
    patient = await quiet(bench, await bench.join(6003, "P-M3", RT))
    await says(bench, patient, "je ne sens plus mes jambes")
    replies = await says(bench, patient, "je veux mourir, je n'en peux plus")
    await bench.tick()
    assert len(urgent_alerts(bench)) == 2 and "je veux mourir" in urgent_alerts(bench)[1]
    assert any("3114" in t for t in replies)


async def test_heavy_bleeding_after_a_fever_alert_gets_its_own_alert_and_the_call_15_now_advice(
    bench: Bench,
) -> None:
    patient = await quiet(bench, await bench.join(6004, "P-M4", RT))
    await says(bench, patient, "j'ai de la fièvre")
    replies = await says(bench, patient, "je saigne beaucoup, ça ne s'arrête pas")
    await bench.tick()
    assert len(urgent_alerts(bench)) == 2 and "je saigne beaucoup" in urgent_alerts(bench)[1]
    assert any("Cela doit être vu par un médecin maintenant" in t for t in replies)


# ------------------------------------------------------------------------------------ 2. voice notes, photos, videos


async def test_a_voice_note_gets_the_safety_reply_and_is_copied_even_after_a_500(bench: Bench) -> None:
    patient = await quiet(bench, await bench.join(6010, "P-M10", RT))
    bench.standin.fail_next(1, status=500, method="copyMessage")
    before = len(bench.texts(6010))
    bench.standin.send_voice(6010, 6010, duration=20)
    await bench.settle()
    reply = bench.texts(6010)[before:]
    assert len(reply) == 1 and has_safety_line(reply[0])
    assert "ne lit pas les messages vocaux" in reply[0] and "L'équipe le lira aujourd'hui" in reply[0]
    await bench.advance(timedelta(seconds=30), step=timedelta(seconds=5))
    assert bench.standin.stats.faults_injected >= 1
    copies = [m for m in bench.group_messages() if m.extra.get("voice")]
    assert len(copies) == 1 and copies[0].protect_content
    assert any("un message vocal" in t and "P-M10" in t for t in group_texts(bench))
    assert rows(bench, "SELECT kind, attempts, sent_at IS NOT NULL FROM group_posts") == [("copy", 1, 1)]
    del patient


async def test_a_copy_telegram_keeps_refusing_is_replaced_by_a_line_saying_so(bench: Bench) -> None:
    patient = await quiet(bench, await bench.join(6012, "P-M12", RT))
    bench.standin.fail_next(10, status=400, method="copyMessage", description="Bad Request: message to copy not found")
    bench.standin.send_photo(6012, 6012)
    await bench.settle()
    await bench.advance(timedelta(minutes=40), step=timedelta(minutes=1))
    assert not [m for m in bench.group_messages() if m.extra.get("photo")]
    told = [t for t in group_texts(bench) if "P-M12" in t and "refusé d'en faire la copie" in t]
    assert len(told) == 1 and "une photo" in told[0]
    assert rows(bench, "SELECT kind, sent_at IS NOT NULL FROM group_posts") == [("copy", 1)]
    del patient


async def test_media_in_a_burst_are_all_copied(bench: Bench) -> None:
    patient = await quiet(bench, await bench.join(6011, "P-M11", RT))
    for n in range(3):
        await says(bench, patient, f"question numéro {n} pour l'équipe")
    bench.standin.send_voice(6011, 6011)
    await bench.settle()
    bench.standin.send_sticker(6011, 6011)
    await bench.settle()
    bench.standin.send_location(6011, 6011)
    await bench.settle()
    await bench.advance(timedelta(minutes=2), step=timedelta(seconds=20))
    assert rows(bench, "SELECT COUNT(*) FROM alerts WHERE rule_id = 'free_text'") == [(3,)]  # burst control held
    copied = [
        m for m in bench.group_messages() if m.extra.get("voice") or m.extra.get("sticker") or m.extra.get("location")
    ]
    assert len(copied) == 3
    held = [t for t in group_texts(bench) if "3 autres messages de P-M11" in t]
    assert len(held) == 1 and "un message vocal" in held[0] and "une position" in held[0]


# ------------------------------------------------------------------------------------ 4. nothing typed is dropped


async def test_sos_typed_during_a_0_to_10_question_is_stored_alerts_urgently_and_says_call_15(bench: Bench) -> None:
    patient = await bench.join(6020, "P-M20", RT)
    assert (await current_prompt(bench, patient)).item.type == "scale"
    replies = await says(bench, patient, "SOS")
    await bench.tick()
    assert rows(bench, "SELECT text FROM patient_messages") == [("SOS",)]
    assert len(urgent_alerts(bench)) == 1 and "SOS" in urgent_alerts(bench)[0]
    assert any("Appelez maintenant le 15 (SAMU) ou le 112" in t for t in replies)
    assert rows(bench, "SELECT flags FROM patient_messages") == [('["cry_for_help"]',)]


@pytest.mark.parametrize("text", ["Au secours, venez vite", "urgent !"])
async def test_a_cry_for_help_in_a_message_is_the_screen_category_and_alerts_urgently(bench: Bench, text: str) -> None:
    # The cry for help is the screen's own category (questionnaires/free_text_red_flags.yaml), advice "urgent".
    patient = await quiet(bench, await bench.join(6024, "P-M24", RT))
    replies = await says(bench, patient, text)
    await bench.tick()
    assert len(urgent_alerts(bench)) == 1 and text in urgent_alerts(bench)[0]
    assert rows(bench, "SELECT flags FROM patient_messages") == [('["cry_for_help"]',)]
    assert any("Appelez maintenant le 15 (SAMU) ou le 112" in t for t in replies)


@pytest.mark.parametrize("text", ["ce n'est pas urgent", "j'ai besoin d'aide pour le formulaire"])
async def test_a_word_for_help_inside_an_ordinary_sentence_is_not_a_cry_for_help(bench: Bench, text: str) -> None:
    patient = await quiet(bench, await bench.join(6023, "P-M23", RT))
    await says(bench, patient, text)
    await bench.tick()
    assert urgent_alerts(bench) == [] and rows(bench, "SELECT flags FROM patient_messages") == [("[]",)]


@pytest.mark.parametrize("word", ["SOS", "urgence", "aidez-moi", "suicide", "saignement", "convulsions"])
async def test_a_one_word_cry_for_help_during_a_question_is_stored_reaches_the_team_and_gets_15_112(
    bench: Bench,
    word: str,
) -> None:
    # Holds today (stored, posted, 15/112 in the reply) and once the screen flags these words (then it alerts).
    patient = await bench.join(6021, "P-M21", RT)
    replies = await says(bench, patient, word)
    await bench.advance(timedelta(minutes=2), step=timedelta(seconds=20))
    assert rows(bench, "SELECT text FROM patient_messages") == [(word,)]
    assert any(f"« {word} »" in t and "P-M21" in t for t in group_texts(bench))
    assert replies and any("15 (SAMU)" in t and "112" in t and "114" in t for t in replies)
    assert "Merci d'écrire" not in replies[0] or "15 (SAMU)" in replies[0]


async def test_a_flagged_word_typed_during_a_question_alerts_and_advises_like_a_message(bench: Bench) -> None:
    patient = await bench.join(6022, "P-M22", RT)
    prompt = await current_prompt(bench, patient)
    replies = await says(bench, patient, "paralysé")
    await bench.tick()
    assert rows(bench, "SELECT text, flags FROM patient_messages") == [("paralysé", '["leg_weakness"]')]
    assert len(urgent_alerts(bench)) == 1 and "paralysé" in urgent_alerts(bench)[0]
    assert any("Appelez maintenant le 15 (SAMU) ou le 112" in t for t in replies)
    assert (await current_prompt(bench, patient)).item.id == prompt.item.id  # the question is still there


async def test_twenty_texts_in_a_row_are_all_stored_and_all_reach_the_group(bench: Bench) -> None:
    patient = await quiet(bench, await bench.join(6030, "P-M30", RT))
    sent = [f"message {n:02d} de la patiente pour l'équipe" for n in range(20)]
    for text in sent:
        await bench.patient_says(patient, text)
    await bench.advance(timedelta(minutes=2), step=timedelta(seconds=20))
    assert [r[0] for r in rows(bench, "SELECT text FROM patient_messages ORDER BY id")] == sent
    group = "\n".join(group_texts(bench))
    assert [text for text in sent if text not in group] == []
    posts = [t for t in group_texts(bench) if "P-M30" in t and "inclus" not in t]
    assert len(posts) <= 5  # 3 alerts, then the held ones grouped (17 in one post here): no flood
    assert any("17 autres messages de P-M30" in t for t in posts)


async def test_a_patient_writing_without_pause_costs_the_group_one_post_a_minute(bench: Bench) -> None:
    patient = await quiet(bench, await bench.join(6031, "P-M31", RT))
    for n in range(12):  # one message every 20 seconds for 4 minutes
        await bench.patient_says(patient, f"petit message {n}")
        bench.clock.advance(timedelta(seconds=20))
        await bench.tick()
    await bench.advance(timedelta(minutes=2), step=timedelta(seconds=20))
    group = "\n".join(group_texts(bench))
    assert all(f"petit message {n}" in group for n in range(12))
    held_posts = [t for t in group_texts(bench) if "P-M31" in t and "message" in t and "autre" in t]
    assert 2 <= len(held_posts) <= 5


async def test_a_red_flag_is_never_held_by_burst_control(bench: Bench) -> None:
    patient = await quiet(bench, await bench.join(6032, "P-M32", RT))
    for n in range(5):
        await bench.patient_says(patient, f"message ordinaire {n} pour l'équipe")
    replies = await says(bench, patient, "je ne sens plus mes jambes")
    await bench.tick()  # no clock advance: at once
    assert len(urgent_alerts(bench)) == 1 and "je ne sens plus mes jambes" in urgent_alerts(bench)[0]
    assert any("Appelez maintenant le 15" in t for t in replies)


# ------------------------------------------------------------------------------------ 3. the safety line


@pytest.mark.parametrize(
    ("start", "reading"),
    [
        (datetime(2027, 3, 1, 21, 0, tzinfo=UTC), "L'équipe le lira mardi 2 mars, à partir de 9 h"),  # Mon 22:00
        (datetime(2027, 3, 1, 9, 0, tzinfo=UTC), "L'équipe le lira aujourd'hui"),  # Monday 10:00
    ],
)
async def test_every_reply_to_free_text_carries_the_safety_line_and_the_true_reading_time(
    tmp_path: Path,
    start: datetime,
    reading: str,
) -> None:
    async with bench_at(tmp_path, start) as bench:
        patient = await bench.join(6040, "P-M40", date(2027, 3, 10))
        stray = await says(bench, patient, "euh")  # beside the first button question
        await answer_all(bench, patient)
        ordinary = await says(bench, patient, "Bonjour, j'ai une question sur mon traitement")
        red_flag = await says(bench, patient, "je ne sens plus mes jambes")
        before = len(bench.texts(6040))
        bench.standin.send_photo(6040, 6040)
        await bench.settle()
        photo = bench.texts(6040)[before:]
        for replies in (stray, ordinary, red_flag, photo):
            assert replies, "no reply"
            last = replies[-1]
            assert has_safety_line(last) and reading in last, last
            assert "prévenue" not in last or "aujourd'hui" in reading
        assert "gardé pour votre équipe" in stray[-1]


async def test_a_word_written_by_editing_is_kept_and_a_cry_for_help_alerts(bench: Bench) -> None:
    patient = await quiet(bench, await bench.join(6050, "P-M50", RT))
    await bench.patient_says(patient, "ok")
    mine = [m for m in bench.standin.messages(6050) if not m.from_bot][-1]
    before = len(bench.texts(6050))
    bench.standin.edit_text(6050, 6050, mine.message_id, "SOS")
    await bench.settle()
    await bench.tick()
    assert rows(bench, "SELECT text FROM patient_messages ORDER BY id") == [("ok",), ("SOS",)]
    assert len(urgent_alerts(bench)) == 1 and "« SOS »" in urgent_alerts(bench)[0]
    assert any("Appelez maintenant le 15 (SAMU) ou le 112" in t for t in bench.texts(6050)[before:])
