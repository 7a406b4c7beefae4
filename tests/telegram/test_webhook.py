"""Webhook mode (`run --webhook`): Telegram's secret token is checked before any update is handled (issue #9)."""

from __future__ import annotations

import asyncio
import socket
from pathlib import Path

import httpx
import pytest
from harness import CLINICIAN_CHAT, CLINICIANS, TOKEN, Bench

from bot.__main__ import start_updates
from bot.config import ConfigError, require_webhook

SECRET = "s3cret-token_for-the-webhook"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def update(update_id: int, text: str) -> dict[str, object]:
    return {
        "update_id": update_id,
        "message": {
            "message_id": update_id,
            "date": 1_800_000_000,
            "text": text,
            "chat": {"id": CLINICIAN_CHAT, "type": "supergroup", "title": "Équipe"},
            "from": {"id": CLINICIANS[0], "is_bot": False, "first_name": "Dr"},
            "entities": [{"type": "bot_command", "offset": 0, "length": len(text.split()[0])}],
        },
    }


async def test_updates_by_webhook_need_the_secret_token(tmp_path: Path) -> None:
    port = free_port()
    bench = Bench(tmp_path, WEBHOOK_URL="https://bot.example.org/", WEBHOOK_SECRET=SECRET, WEBHOOK_PORT=port)
    await bench.standin.start()
    bench.standin.add_group(CLINICIAN_CHAT, "Équipe", type="supergroup")
    from bot.bootstrap import build_services
    from bot.telegram.app import build_application, on_startup

    services = await build_services(bench.settings(), bench.clock)
    app = build_application(services, token=TOKEN, base_url=bench.standin.base_url, tick=None, rate_limiter=False)
    try:
        await app.initialize()
        await on_startup(app)
        await app.start()
        await start_updates(app, bench.settings(), webhook=True)
        hook = bench.standin.requests("setWebhook")[-1].params
        assert hook["url"] == "https://bot.example.org/telegram" and hook["secret_token"] == SECRET
        url = f"http://127.0.0.1:{port}/telegram"
        async with httpx.AsyncClient() as client:
            forged = await client.post(
                url, json=update(1, "/patients"), headers={"X-Telegram-Bot-Api-Secret-Token": "wrong-secret-000000"}
            )
            missing = await client.post(url, json=update(2, "/patients"))
            assert forged.status_code == 403 and missing.status_code == 403
            await asyncio.sleep(0.3)
            assert bench.standin.requests("sendMessage") == []
            real = bench.standin.send_text(CLINICIAN_CHAT, CLINICIANS[0], "/patients")  # as Telegram holds it
            genuine = await client.post(url, json=real, headers={"X-Telegram-Bot-Api-Secret-Token": SECRET})
            assert genuine.status_code == 200
        await bench.standin.wait_for(lambda: bool(bench.standin.sent_messages(CLINICIAN_CHAT)), timeout=5)
        assert "Aucun patient" in (bench.standin.sent_messages(CLINICIAN_CHAT)[-1].text or "")
    finally:
        assert app.updater is not None
        await app.updater.stop()
        await app.stop()
        await app.shutdown()
        await services.store.close()
        await bench.standin.stop()


def test_webhook_mode_refuses_to_start_without_https_url_and_secret(tmp_path: Path) -> None:
    bench = Bench(tmp_path)
    with pytest.raises(ConfigError, match="WEBHOOK_URL"):
        require_webhook(bench.settings())
    with pytest.raises(ConfigError, match="WEBHOOK_SECRET"):
        require_webhook(Bench(tmp_path, WEBHOOK_URL="https://x.example").settings())
    with pytest.raises(ConfigError, match="WEBHOOK_SECRET"):
        Bench(tmp_path, WEBHOOK_URL="https://x.example", WEBHOOK_SECRET="short").settings()
