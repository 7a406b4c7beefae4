"""The Telegram adapter's wiring: the PTB `Application`, its handlers and jobs, over the `Services` that
`bot.bootstrap` (the composition root) builds."""

from __future__ import annotations

import logging
from datetime import timedelta

import httpx
from telegram import BotCommand, Update
from telegram.ext import (
    Application,
    ApplicationBuilder,
    BaseUpdateProcessor,
    CallbackQueryHandler,
    ChatMemberHandler,
    CommandHandler,
    ContextTypes,
    Defaults,
    MessageHandler,
    SimpleUpdateProcessor,
    TypeHandler,
    filters,
)
from telegram.request import HTTPXRequest

from bot.bootstrap import DEFAULT_TICK, QUESTIONNAIRES_DIR, build_services, clinician_work, periodic_work
from bot.config import DEFAULT_API_BASE_URL
from bot.i18n import _
from bot.interpreter import share_the_gil_quickly
from bot.scheduling import dispatcher
from bot.services.container import Services
from bot.telegram.context import MESSENGER_KEY, SERVICES_KEY, BotContext
from bot.telegram.handlers import (
    caregiver,
    clinician,
    errors,
    flood,
    followup,
    guards,
    medicine,
    membership,
    patient,
    phone,
)
from bot.telegram.inbox import INBOX_KEY, Inbox, InboxPollingRequest, InboxProcessor, InboxQueue, replay
from bot.telegram.keyboards import (
    ACK,
    ANSWER,
    BACK,
    CONSENT,
    FOLLOWUP,
    PHONE_ANSWER,
    PHONE_TOGGLE,
    PREFERENCE,
    STOP,
    TOGGLE,
)
from bot.telegram.messenger import PtbMessenger
from bot.telegram.pacing import TelegramPacing

log = logging.getLogger(__name__)

# The composition root is `bot.bootstrap`; these names stay importable from here for existing callers.
__all__ = [
    "DEFAULT_TICK",
    "QUESTIONNAIRES_DIR",
    "build_application",
    "build_services",
    "on_startup",
    "periodic_work",
    "register_handlers",
    "telegram_pacing",
]


def build_application(
    services: Services,
    *,
    token: str,
    base_url: str,
    base_file_url: str | None = None,
    tick: timedelta | None = DEFAULT_TICK,
    rate_limiter: bool = True,
    update_processor: BaseUpdateProcessor | None = None,
) -> Application:
    """The real PTB application: long polling, rate limiter, Paris-time defaults, our handlers and jobs; every
    update kept in the inbox until handled (`bot.telegram.inbox`)."""
    share_the_gil_quickly()  # the database's thread must not wait 5 ms for the GIL after each statement
    update_inbox = Inbox(services.store, services.clock)
    update_queue = InboxQueue(update_inbox)
    processor = InboxProcessor(update_processor or SimpleUpdateProcessor(16), update_inbox)
    builder: ApplicationBuilder = (
        ApplicationBuilder()
        .token(token)
        .base_url(base_url)
        .context_types(ContextTypes(context=BotContext))
        .defaults(Defaults(tzinfo=services.settings.timezone))
        .update_queue(update_queue)
        .request(api_request())
        .get_updates_request(InboxPollingRequest(update_queue, connection_pool_size=1))  # PTB's default pool: 1
        .concurrent_updates(processor)  # 16 handler slots, at most one per sender (issue 39)
    )
    if not base_file_url and base_url.rstrip("/").endswith("/bot"):
        # Telegram serves files at <API root>/file/bot<token>/<path> (core.telegram.org/bots/api#getfile): derived
        # from the API URL, a box photo (issue 37) is fetched from the stand-in in tests and the sandbox, and from
        # Telegram itself (PTB's default) in production.
        base_file_url = base_url.rstrip("/").removesuffix("/bot") + "/file/bot"
    if base_file_url:
        builder = builder.base_file_url(base_file_url)
    if rate_limiter:
        pacing = telegram_pacing()
        builder = builder.rate_limiter(pacing)
        # A chat wrote when its update arrived, not when a handler got to it: under a backlog the two differ, and
        # Telegram counts from the former (what the bot sends a minute later is bulk again).
        update_queue.arrived = pacing.update_arrived
        # A flood is counted from arrivals too (issue 39), and so is its backlog, until each message is handled.
        processor.finished = pacing.update_finished
    application = builder.build()
    application.bot_data[SERVICES_KEY] = services
    application.bot_data[MESSENGER_KEY] = PtbMessenger(application.bot)
    application.bot_data[INBOX_KEY] = update_inbox
    register_handlers(application)
    if tick is not None and application.job_queue is not None:
        application.job_queue.run_repeating(_tick_job, interval=tick, first=1, name="tick")
        # Patient advice, alert retries and re-alerts, and the digest run in their own job, so that a long tick does
        # not hold them back (10,000 questionnaires due at once take minutes under Telegram's limits).
        application.job_queue.run_repeating(
            _clinician_job, interval=tick, first=1 + tick.total_seconds() / 2, name="clinicians"
        )
    return application


#: Idle HTTP connections kept open to the Bot API (issue 38). PTB's pool keeps every connection a burst opened
#: (up to 256) for 5 s, and httpcore checks each idle one — a system call or two — twice per request: with a
#: handler burst's 20–40 connections idle, that bookkeeping was the largest single cost of a request (py-spy of the
#: 300-patient crowd: 15–29 % of the bot's busy samples). Keeping 8 costs a reconnection beyond 8 requests at once
#: and measured 20–30 % less client CPU per request in bursts of 20–32 (benchmarks/README.md, issue 38).
KEEPALIVE_CONNECTIONS = 8
POOL_SIZE = 256  # PTB's default for the bot's requests (ApplicationBuilder)


def api_request() -> HTTPXRequest:
    """The Bot API connection pool: PTB's defaults, with at most `KEEPALIVE_CONNECTIONS` idle connections kept."""
    limits = httpx.Limits(max_connections=POOL_SIZE, max_keepalive_connections=KEEPALIVE_CONNECTIONS)
    return HTTPXRequest(connection_pool_size=POOL_SIZE, httpx_kwargs={"limits": limits})


def telegram_pacing() -> TelegramPacing:
    """Telegram's limits on new messages, without bursts (`bot.telegram.pacing`); 429s honoured, 3 retries."""
    return TelegramPacing()


def register_handlers(application: Application) -> None:
    """Guards first (each in its own group: PTB runs one handler per group), then one handler per use case."""
    private = filters.ChatType.PRIVATE
    application.add_handler(TypeHandler(Update, flood.mark_floods), group=-6)
    # (Redelivered updates never reach the handlers: `bot.telegram.inbox.InboxProcessor` drops them.)
    application.add_handler(CallbackQueryHandler(guards.refuse_presses_from_other_chats), group=-5)
    application.add_handler(MessageHandler(filters.StatusUpdate.MIGRATE, guards.follow_migration), group=-4)
    application.add_handler(TypeHandler(Update, guards.leave_foreign_groups), group=-3)
    application.add_handler(TypeHandler(Update, membership.writes_again), group=-2)
    # Issue 36: a caregiver's update (or a caregiver's invitation link) is handled there and goes no further.
    application.add_handler(TypeHandler(Update, caregiver.route), group=-1)

    # Only new messages act: an edited message never runs a command, enrols or answers (editing an old message
    # into "/withdraw P-A" must not withdraw P-A). PTB's CommandHandler takes edited messages by default.
    new = filters.UpdateType.MESSAGE
    group_only = ~private & new
    private_new = private & new
    application.add_handler(CommandHandler("enroll", clinician.enroll, filters=new))
    application.add_handler(CommandHandler("patients", clinician.list_patients, filters=new))
    application.add_handler(CommandHandler("patient", clinician.show_patient, filters=new))
    application.add_handler(CommandHandler("alerts", clinician.list_alerts, filters=new))
    application.add_handler(CommandHandler("appels", clinician.call_list, filters=new))
    application.add_handler(CommandHandler("saisie", phone.start_entry, filters=new))
    application.add_handler(CommandHandler("aidant", caregiver.invite, filters=new))
    application.add_handler(CommandHandler("fin_aidant", caregiver.team_ends, filters=group_only))
    application.add_handler(CommandHandler("fin_aidant", caregiver.patient_ends, filters=private_new))
    application.add_handler(CommandHandler("send", clinician.send_now, filters=new))
    application.add_handler(CommandHandler("withdraw", clinician.withdraw_patient, filters=new))
    application.add_handler(CommandHandler("day0", clinician.change_day0, filters=new))
    application.add_handler(CommandHandler("fraction", clinician.last_fraction, filters=new))
    application.add_handler(CommandHandler("event", clinician.intercurrent_event, filters=new))
    application.add_handler(CommandHandler("traitement", clinician.record_regimen, filters=new))
    application.add_handler(CommandHandler("pause", clinician.pause_patient, filters=group_only))
    application.add_handler(CommandHandler("reprendre", clinician.resume_patient, filters=group_only))
    application.add_handler(CommandHandler("start", patient.start, filters=private_new))
    application.add_handler(CommandHandler("reprendre", patient.resume_command, filters=private_new))
    application.add_handler(CommandHandler("aide", patient.help_command, filters=private_new))
    application.add_handler(CommandHandler("pause", patient.pause_command, filters=private_new))
    application.add_handler(CommandHandler("stop", patient.stop_command, filters=private_new))
    application.add_handler(CallbackQueryHandler(patient.stop_confirmed, pattern=STOP))
    application.add_handler(CallbackQueryHandler(patient.information_understood, pattern=f"^{CONSENT}$"))
    application.add_handler(CallbackQueryHandler(patient.preferred_time, pattern=PREFERENCE))
    application.add_handler(CallbackQueryHandler(patient.answer_button, pattern=ANSWER))
    application.add_handler(CallbackQueryHandler(patient.toggle_choice, pattern=TOGGLE))
    application.add_handler(CallbackQueryHandler(patient.go_back, pattern=BACK))
    application.add_handler(CallbackQueryHandler(clinician.acknowledge, pattern=ACK))
    application.add_handler(CallbackQueryHandler(followup.followup, pattern=FOLLOWUP))
    application.add_handler(CallbackQueryHandler(phone.phone_button, pattern=PHONE_ANSWER))
    application.add_handler(CallbackQueryHandler(phone.phone_button, pattern=PHONE_TOGGLE))
    application.add_handler(CallbackQueryHandler(patient.medicine_choice, pattern=medicine.MEDICINE))
    application.add_handler(CallbackQueryHandler(patient.stale_button))
    application.add_handler(ChatMemberHandler(membership.private_chat_member, ChatMemberHandler.MY_CHAT_MEMBER))
    application.add_handler(MessageHandler(private & filters.UpdateType.EDITED_MESSAGE, patient.edited_message))
    application.add_handler(
        MessageHandler(private & filters.UpdateType.MESSAGE & filters.TEXT & ~filters.COMMAND, patient.typed_answer)
    )
    application.add_handler(MessageHandler(private & filters.UpdateType.MESSAGE, patient.other_message))
    application.add_handler(
        MessageHandler(group_only & filters.UpdateType.MESSAGE & filters.TEXT & ~filters.COMMAND, phone.phone_typed)
    )
    application.add_error_handler(errors.on_error)


async def on_startup(application: Application) -> None:
    """After `initialize()`, before polling: queue the updates a crash left unhandled, recover sends caught by a
    crash, publish the command menu.

    Called explicitly by every runner (production, sandbox, tests): PTB's `post_init` only runs under
    `run_polling`, which we do not use because we own the event loop and the signal handling.
    """
    services: Services = application.bot_data[SERVICES_KEY]
    services.bot_username = application.bot.username
    if services.sites.has_examples and application.bot.base_url.startswith(DEFAULT_API_BASE_URL):
        log.warning(
            "the sites file %s holds example sites with fictional phone numbers: set BOT_SITES_FILE to the "
            "sites' real file before enrolling patients",
            services.sites.origin,
        )
    await replay(application, application.bot_data[INBOX_KEY])  # what a crash left, before any new update
    recovered = await dispatcher.recover(services)
    if recovered:
        log.info("recovered %s questionnaire(s) caught mid-send", recovered)
    await application.bot.set_my_commands(
        [
            BotCommand("reprendre", _("See the current question again")),
            BotCommand("aide", _("Help and emergency numbers")),
            BotCommand("pause", _("Pause the follow-up")),
            BotCommand("stop", _("Stop taking part")),
        ]
    )


async def _tick_job(context: BotContext) -> None:
    await periodic_work(context.services, context.messenger)


async def _clinician_job(context: BotContext) -> None:
    await clinician_work(context.services, context.messenger)
