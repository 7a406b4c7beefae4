"""Issue 37 in the offline sandbox: the patient "sends" the photo of a sample box (made-up codes) from the page."""

from __future__ import annotations

from typing import Any

from test_sandbox import Client, client, rows  # noqa: F401  (the sandbox fixture)

from bot.medicines.samples import BOXES
from bot.services import answering


async def _answer_until_product(c: Client, user_id: int) -> None:
    """Answer the baseline the simple way until it asks for the background opioid ("yes" to taking one)."""
    world = c.sandbox.world
    assert world.services is not None
    for _ in range(60):
        _patient, prompt = await answering.current_prompt(world.services, user_id)
        assert prompt is not None
        item = prompt.item
        if item.id == "bg_product":
            return
        prefix = f"q:{prompt.instance.id}:{prompt.item_index}:"
        message_id = prompt.instance.question_message_id
        assert message_id is not None
        if item.type == "scale":
            await world.press(user_id, message_id, prefix + "2")
        elif item.type == "yesno":
            await world.press(user_id, message_id, prefix + ("yes" if item.id == "bg_taking" else "no"))
        elif item.type == "single":
            await world.press(user_id, message_id, prefix + item.choices[0].code)  # type: ignore[index]
        elif item.type == "multi":
            toggle = f"m:{prompt.instance.id}:{prompt.item_index}:"
            await world.press(user_id, message_id, toggle + item.choices[0].code)  # type: ignore[index]
            await world.press(user_id, message_id, toggle + "_ok")
        elif item.optional:
            await world.press(user_id, message_id, prefix + "_skip")
        else:
            await world.patient_says(user_id, str(int(item.min or 1)) if item.type == "number" else "ok")
    raise AssertionError("bg_product never asked")


async def test_a_sample_box_photo_from_the_page_is_read_and_confirmed(client: Client) -> None:  # noqa: F811
    user_id = await client.enrol_and_join("B-001")
    await _answer_until_product(client, user_id)
    await client.post("/api/photo", {"chat_id": user_id, "box": "sans_code"})
    state: dict[str, Any] = await client.state(user_id)
    assert "pas pu lire le code" in state["phone"][-1]["text"]
    await client.post("/api/photo", {"chat_id": user_id, "box": "skenan30"})
    state = await client.state(user_id)
    assert state["phone"][-1]["text"].startswith("Skenan LP 30 mg, gélule — est-ce bien ce médicament ?")
    await client.press_label(user_id, "Oui")
    database = client.sandbox.database
    assert rows(database, "SELECT value FROM answers WHERE item_id = 'bg_product'") == [('"skenan"',)]
    skenan = next(b for b in BOXES if b.key == "skenan30")
    assert rows(database, "SELECT status, cip13 FROM medicine_scans ORDER BY id") == [
        ("no_code", None),
        ("confirmed", skenan.cip13),
    ]
    refused = await client.post("/api/photo", {"chat_id": user_id, "box": "nope"}, status=400)
    assert "inconnue" in str(refused)
