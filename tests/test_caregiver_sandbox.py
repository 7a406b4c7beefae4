"""The sandbox shows a caregiver's phone beside the patient's (issue 36): `/aidant` typed in the group, its link
opened, the caregiver consents and answers for the patient, all through the page's JSON API."""

from __future__ import annotations

from test_sandbox import Client, client, rows  # noqa: F401  (the fixture is used by name)

from bot.sandbox.world import CLINICIAN_CHAT_ID


async def test_a_team_tries_a_caregiver_in_the_sandbox(client: Client) -> None:  # noqa: F811
    patient = await client.enrol_and_join("P-SBX")
    await client.post("/api/say", {"chat_id": CLINICIAN_CHAT_ID, "text": "/aidant P-SBX"})
    reply = (await client.state())["group"]["messages"][-1]["text"]
    link = next(word for word in reply.split() if "?start=aidant_" in word)
    caregiver = int((await client.post("/api/join", {"code": link}))["user_id"])
    await client.press_label(caregiver, "J'accepte")
    state = await client.state(caregiver)
    listed = {p["user_id"]: (p["name"], p["status"]) for p in state["patients"]}
    assert listed[caregiver] == ("Aidant 1 de P-SBX", "caregiver_active")
    assert listed[patient][1] == "active"
    await client.post("/api/say", {"chat_id": caregiver, "text": "/repondre"})
    state = await client.state(caregiver)
    assert "Question 1" in state["phone"][-1]["text"] and "Répondez comme votre proche" in state["phone"][-1]["text"]
    await client.press_label(caregiver, "3")
    assert rows(client.sandbox.database, "SELECT item_id, respondent FROM answers") == [("pain_worst", "caregiver")]
