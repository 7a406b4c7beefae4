"""The sandbox shows a caregiver's phone beside the patient's (issue 36): `/aidant` typed in the group, its link
opened, the caregiver consents and answers for the patient, all through the page's JSON API (self-contained: the
sandbox tests may move to their own folder)."""

from __future__ import annotations

import sqlite3
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import aiohttp

from bot.config import load_settings
from bot.sandbox.server import Sandbox
from bot.sandbox.world import CLINICIAN_CHAT_ID

START = datetime(2027, 3, 1, 9, 0, tzinfo=ZoneInfo("Europe/Paris"))


async def test_a_team_tries_a_caregiver_in_the_sandbox(tmp_path: Path) -> None:
    settings = load_settings(TELEGRAM_BOT_TOKEN="", BOT_DATABASE=str(tmp_path / "ignored.sqlite3"))
    sandbox = Sandbox(settings, port=0, data_dir=tmp_path, start=START)
    await sandbox.start()
    try:
        async with aiohttp.ClientSession() as session:

            async def post(path: str, body: dict[str, Any]) -> dict[str, Any]:
                async with session.post(sandbox.url + path, json=body) as response:
                    assert response.status == 200
                    return await response.json()  # type: ignore[no-any-return]

            async def state(chat: int | None = None) -> dict[str, Any]:
                params = {"patient": str(chat)} if chat is not None else {}
                async with session.get(sandbox.url + "/api/state", params=params) as response:
                    return await response.json()  # type: ignore[no-any-return]

            async def press(chat: int, label: str) -> None:
                for message in reversed((await state(chat))["phone"]):
                    for button in [b for row in message["buttons"] for b in row if b["text"].startswith(label)]:
                        await post("/api/press", {"chat_id": chat, "message_id": message["id"], "data": button["data"]})
                        return
                raise AssertionError(f"no button {label!r}")

            enrolled = await post("/api/enroll", {"study_id": "P-SBX", "rt_start": "2027-03-03", "fractions": 1})
            patient = int((await post("/api/join", {"code": enrolled["code"]}))["user_id"])
            await press(patient, "J'ai lu et compris")
            await press(patient, "Le matin")
            await post("/api/say", {"chat_id": CLINICIAN_CHAT_ID, "text": "/aidant P-SBX"})
            reply = (await state())["group"]["messages"][-1]["text"]
            link = next(word for word in reply.split() if "?start=aidant_" in word)
            caregiver = int((await post("/api/join", {"code": link}))["user_id"])
            await press(caregiver, "J'accepte")
            listed = {p["user_id"]: (p["name"], p["status"]) for p in (await state(caregiver))["patients"]}
            assert listed[caregiver] == ("Aidant 1 de P-SBX", "caregiver_active")
            assert listed[patient][1] == "active"
            await post("/api/say", {"chat_id": caregiver, "text": "/repondre"})
            shown = (await state(caregiver))["phone"][-1]["text"]
            assert "Question 1" in shown and "Répondez comme votre proche" in shown
            await press(caregiver, "3")
            with sqlite3.connect(sandbox.database) as conn:
                answers = conn.execute("SELECT item_id, respondent FROM answers").fetchall()
            assert answers == [("pain_worst", "caregiver")]
    finally:
        await sandbox.stop()
