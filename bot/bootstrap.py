"""The composition root: load and check every data file, open the store, build `Services`, and say what runs on
the clock (issue 34, item 3).

Why a module of its own: the Telegram adapter, the sandbox, the benchmarks and the tests all start the same bot; the
wiring of services, scheduling and delivery belongs to none of them, and knows nothing of python-telegram-bot (the
adapter wraps `periodic_work` and `clinician_work` in its jobs: `bot.telegram.app`).
"""

from __future__ import annotations

import logging
from datetime import timedelta
from pathlib import Path

from bot.clock import Clock
from bot.config import Settings
from bot.delivery import digest, patient_notices, worker
from bot.domain.free_text_screen import load_free_text_vocabulary
from bot.domain.omed import load_opioid_catalogue
from bot.domain.questionnaire import load_questionnaires
from bot.domain.rules import load_rules
from bot.domain.schedule import load_schedule
from bot.domain.screen_classifier import with_second_opinion
from bot.domain.sites import load_sites
from bot.messenger import Messenger
from bot.resources import data_path
from bot.scheduling import dispatcher
from bot.services import clinician_chat, housekeeping, silence
from bot.services.container import Services
from bot.storage.engines import open_store
from bot.storage.patients import site_codes_in_use

__all__ = ["DEFAULT_TICK", "QUESTIONNAIRES_DIR", "build_services", "clinician_work", "periodic_work"]

log = logging.getLogger(__name__)

QUESTIONNAIRES_DIR = data_path("questionnaires")
DEFAULT_TICK = timedelta(seconds=20)


async def build_services(
    settings: Settings,
    clock: Clock,
    *,
    questionnaires_dir: Path = QUESTIONNAIRES_DIR,
    local_dirs: tuple[Path, ...] = (),
) -> Services:
    """Load and validate every data file (a bad file stops start-up), then open the database."""
    questionnaires = load_questionnaires(questionnaires_dir, *local_dirs)
    known_items = {item.id for q in questionnaires.values() for item in q.items}
    rules = load_rules(questionnaires_dir / "rules.yaml", known_items=known_items)
    schedule = load_schedule(questionnaires_dir / "schedule.yaml")
    opioids = load_opioid_catalogue(questionnaires_dir / "opioids.yaml")
    sites = load_sites(settings.bot_sites_file or questionnaires_dir / "sites.yaml")
    # Issue 31: the rules, and a classifier that may only raise their level (docs/clinical/free-text-screen.md).
    vocabulary = with_second_opinion(load_free_text_vocabulary(questionnaires_dir / "free_text_red_flags.yaml"))
    store = await open_store(settings.bot_database, clock)
    services = Services(
        settings=settings,
        store=store,
        clock=clock,
        questionnaires=questionnaires,
        rules=rules,
        schedule=schedule,
        opioids=opioids,
        sites=sites,
        free_text_vocabulary=vocabulary,
        clinician_chat_id=settings.clinician_chat_id,
        replica_id=settings.bot_replica_id,
    )
    try:
        async with store.read() as tx:
            sites.require(await site_codes_in_use(tx))
        await _stamp_versions(services)
    except Exception:
        await store.close()
        raise
    await clinician_chat.load_clinician_chat(services)  # a migrated group id recorded in the database wins
    return services


async def _stamp_versions(services: Services) -> None:
    """The opioid table and rules versions loaded now: every alert stored from now on carries them (issue 17)."""
    import json

    from bot.domain.stamps import VERSIONS_SETTING, versions
    from bot.storage.settings import put_setting

    async with services.store.transaction() as tx:
        await put_setting(tx, VERSIONS_SETTING, json.dumps(versions(services.opioids, services.rules)))
        await tx.commit()


async def periodic_work(services: Services, messenger: Messenger) -> dispatcher.TickReport:
    """Everything that runs on the clock, in order: the schedule (send, remind, close windows), housekeeping,
    then the clinicians' side (alert delivery, the digest). The tick job, the sandbox and the test bench run this."""
    report = await dispatcher.tick(services, messenger)
    from bot.delivery.caregiver_offers import send_offers  # issue 36: after the reminders it depends on

    await send_offers(services, messenger)
    await housekeeping.prune_if_due(services)
    await clinician_work(services, messenger)
    return report


async def clinician_work(services: Services, messenger: Messenger) -> None:
    """Advice owed to patients, alerts due (first sends, retries, re-alerts) and the morning digest; safe to run
    beside `periodic_work`."""
    await patient_notices.send_notices(services, messenger)
    await silence.escalate_silences(services)
    await worker.deliver_due(services, messenger)
    await digest.send_digest_if_due(services, messenger)
