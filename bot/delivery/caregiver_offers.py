"""Offering a caregiver the questionnaire the patient has not started (issue 36; `services.caregivers.offer_due`).

Never in the quiet hours (21:00–08:00, the patients' own rule): an offer due at night waits for the morning. The offer
is recorded before it is sent (once per questionnaire); a failed send is not retried: the caregiver can still ask
with /repondre, and the patient's own reminders go on.
"""

from __future__ import annotations

import logging

from bot.domain.schedule import is_quiet
from bot.i18n import _
from bot.messenger import Messenger, TryLater, Unreachable
from bot.services import caregivers
from bot.services.container import Services

log = logging.getLogger(__name__)


def offer_header() -> str:
    return _(
        "Your relative has not answered this questionnaire yet. If they cannot answer it today, you can answer it "
        "for them. If they start it first, your buttons will no longer work."
    )


async def send_offers(services: Services, messenger: Messenger) -> int:
    """Send the offers due; return how many were sent."""
    if is_quiet(services.clock.now(), services.schedule, services.settings.timezone):
        return 0
    sent = 0
    for chat_id, prompt, _caregiver in await caregivers.offer_due(services):
        try:
            await messenger.send_question(chat_id, prompt, header=offer_header())
            sent += 1
        except (TryLater, Unreachable) as exc:  # a caregiver who blocked the bot: the patient is not affected
            log.info("caregiver offer not sent: %s", type(exc).__name__)
    return sent
