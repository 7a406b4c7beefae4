"""Webhook delivery in the stand-in: Telegram posting updates to a bot that set a webhook, through a reverse proxy
that spreads them over several bot replicas.

What Telegram does (Bot API, setWebhook): it posts each update as JSON to the webhook URL, with the secret in
`X-Telegram-Bot-Api-Secret-Token`; "in case of an unsuccessful request" (not 2xx, no answer) it gives up "after a
reasonable amount of attempts" — it tries again, so an update a dead replica did not acknowledge reaches another
one. Here updates go in order, one at a time, alternating between the targets (round robin, as the proxy would);
an update a target refuses is offered to the next at once, and the pass sleeps a moment when every target refused.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence
from typing import Any

import aiohttp

log = logging.getLogger(__name__)

SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"


class WebhookPusher:
    """Pushes the stand-in's pending updates to `targets` (full URLs of the replicas' webhook servers)."""

    def __init__(
        self,
        pending: Callable[[], list[dict[str, Any]]],
        confirm: Callable[[int], None],
        wakeup: Callable[[], asyncio.Event],
        targets: Sequence[str],
        secret: str | None,
        timeout: float = 10.0,
    ) -> None:
        self._pending = pending
        self._confirm = confirm
        self._wakeup = wakeup
        self.targets = list(targets)
        self._secret = secret
        self._timeout = timeout
        self._next = 0
        self._task: asyncio.Task[None] | None = None
        self.delivered: dict[str, int] = {target: 0 for target in self.targets}
        self.refused = 0

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None

    @property
    def idle(self) -> bool:
        return not self._pending()

    async def _run(self) -> None:
        headers = {SECRET_HEADER: self._secret} if self._secret else {}
        timeout = aiohttp.ClientTimeout(total=self._timeout)
        async with aiohttp.ClientSession(timeout=timeout, headers=headers) as session:
            while True:
                updates = self._pending()
                if not updates:
                    event = self._wakeup()
                    try:
                        await asyncio.wait_for(event.wait(), 0.05)
                    except TimeoutError:
                        pass
                    continue
                update = updates[0]
                if await self._offer(session, update):
                    self._confirm(int(update["update_id"]) + 1)
                else:
                    await asyncio.sleep(0.05)  # no replica took it: try again shortly, as Telegram does

    async def _offer(self, session: aiohttp.ClientSession, update: dict[str, Any]) -> bool:
        """To each target in turn from the next one in the rotation; True once one answered 2xx."""
        for _ in range(len(self.targets)):
            target = self.targets[self._next % len(self.targets)]
            self._next += 1
            try:
                async with session.post(target, json=update) as response:
                    if 200 <= response.status < 300:
                        self.delivered[target] += 1
                        return True
                    log.debug("webhook %s answered %s", target, response.status)
            except (TimeoutError, aiohttp.ClientError) as exc:
                log.debug("webhook %s unreachable: %s", target, type(exc).__name__)
            self.refused += 1
        return False
