"""The offline sandbox: a web page showing a patient's phone and the clinicians' group, driven by the real bot.

`python -m bot sandbox` (or `python -m bot run` without a token) starts, in one asyncio loop, the Bot API stand-in,
the production `Application` polling it (`SandboxWorld`), and this small aiohttp site on http://127.0.0.1:8080.
The page (vanilla JS, `page.html` + `static/`) polls `GET /api/state` and acts through JSON endpoints; every action
goes through the stand-in exactly as a Telegram client would cause it: the enrolment is a `/enroll` written by a fake
clinician in the group, joining is `/start <code>` from a fake patient, answers are button presses.

The sandbox database (`data/sandbox-<port>.sqlite3`, one per port) starts empty at each launch: the stand-in's chats
live in memory, so patients kept from an earlier run would be linked to chats that no longer exist (and update ids
restart at 1, which the duplicate filter would take for replays). The port is taken first and the file is emptied
only then: a second launch on a busy port fails (exit code 2) without touching the running sandbox's data.

The virtual clock starts at 09:00 today (the bot's time zone) unless told otherwise: the newcomer enrols a patient
at once, in the morning, and sees the first questionnaire instead of the night's quiet hours.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import signal
import socket
import sys
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from pathlib import Path
from typing import Any

from aiohttp import web

from bot.clock import SystemClock
from bot.commandline import command
from bot.config import Settings
from bot.domain.enrolment import DEFAULT_ARM
from bot.domain.models import ARMS
from bot.domain.trial import TrialFileError, load_trial
from bot.sandbox.world import (
    CLINICIAN_CHAT_ID,
    CLINICIAN_GROUP_TITLE,
    SANDBOX_BOT_USERNAME,
    SandboxWorld,
    invitation_code,
    sandbox_settings,
)
from bot.standin import ChatMessage
from bot.storage import patients as patient_repo
from bot.storage import sandbox_queries
from bot.storage.db import SIDE_FILES, DatabaseFileError, make_private_dirs
from bot.storage.patients import hash_code

log = logging.getLogger(__name__)

HERE = Path(__file__).resolve().parent
PAGE = HERE / "page.html"
STATIC_DIR = HERE / "static"
DEFAULT_START_TIME = time(9, 0)
"""The sandbox's virtual clock starts at this local time on the day it is launched (the day of enrolment)."""


def database_name(port: int) -> str:
    """One database per port: two sandboxes on two ports never share (or delete) each other's file."""
    return f"sandbox-{port}.sqlite3"


def default_start(settings: Settings, today: date) -> datetime:
    """09:00 on `today` in the bot's time zone."""
    return datetime.combine(today, DEFAULT_START_TIME, tzinfo=settings.timezone)


#: Clock buttons of the page: "+1 heure" / "+1 jour" move by this much, in steps of `step`.
JUMPS: dict[str, timedelta] = {"hour": timedelta(hours=1), "day": timedelta(days=1)}
STEP = timedelta(minutes=30)
#: "Aller au jour 30" lands on the morning of study day 30 (the primary time point, schedule.yaml).
DAY_30 = 30
DAY_30_TIME = time(10, 0)
TOASTS_KEPT = 20
#: The enrol form's radiotherapy date defaults to this many days after the virtual today: a baseline before day 0.
RT_START_DEFAULT_OFFSET = timedelta(days=2)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class SandboxError(Exception):
    """A request the page should not have made (bad field, unknown chat…); the message is French, for the page."""


@dataclass
class Invitation:
    study_id: str
    code: str
    link: str


def trial_arms() -> tuple[str, ...]:
    """The arms the enrol form offers: the trial file's (reference first), as `/enroll` accepts only those of
    `ARMS`; every accepted arm if the trial file cannot be read (the report says why, the sandbox need not)."""
    try:
        comparison = load_trial().comparison
    except TrialFileError:
        return ARMS
    return (comparison.reference_arm, comparison.experimental_arm)


def invitation_link(code: str) -> str:
    return f"https://t.me/{SANDBOX_BOT_USERNAME}?start={code}"


class Sandbox:
    """The stand-in world plus the web page; `start()` / `stop()`, `url` once started."""

    def __init__(
        self,
        settings: Settings,
        *,
        port: int = 8080,
        host: str = "127.0.0.1",
        data_dir: Path = Path("data"),
        start: datetime | None = None,
        rate_limiter: bool = False,
    ) -> None:
        self.host = host
        self.port = port
        self.data_dir = data_dir
        self.database = data_dir / database_name(port)
        if start is None:
            start = default_start(settings, SystemClock().now().astimezone(settings.timezone).date())
        self.world = SandboxWorld(settings, self.database, start=start, rate_limiter=rate_limiter)
        self.invitations: list[Invitation] = []
        """Invitations made with the page's form (their codes); the page lists every open one from the database."""
        self.arms = trial_arms()
        self.busy: str | None = None
        self._runner: web.AppRunner | None = None
        self._clock_lock = asyncio.Lock()

    # ---- lifecycle ------------------------------------------------------------------------------------------

    async def start(self) -> Sandbox:
        """Take the port first (a busy port fails at once, with nothing started), then the world, then the page."""
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind((self.host, self.port))
        except OSError:
            sock.close()
            raise
        self.port = int(sock.getsockname()[1])  # port 0 (tests): the ephemeral port the system gave
        # Only now that the port is ours: this port's database is no other running sandbox's.
        self.database = self.data_dir / database_name(self.port)
        self.world.database = self.database
        self.world.settings = sandbox_settings(self.world.settings, self.database)
        try:
            make_private_dirs(self.data_dir)
            for suffix in ("", *SIDE_FILES):
                Path(f"{self.database}{suffix}").unlink(missing_ok=True)
        except OSError:
            sock.close()
            raise
        try:
            await self.world.start()
            self._runner = web.AppRunner(self._web_app(), access_log=None, shutdown_timeout=1.0)
            await self._runner.setup()
            await web.SockSite(self._runner, sock).start()
        except BaseException:
            sock.close()
            await self.stop()
            raise
        return self

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
        await self.world.stop()

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def _web_app(self) -> web.Application:
        app = web.Application(middlewares=[_json_errors])
        app.router.add_get("/", self._page)
        app.router.add_static("/static/", STATIC_DIR)
        app.router.add_get("/api/state", self._state)
        app.router.add_get("/api/file/{file_id}", self._file)
        app.router.add_post("/api/enroll", self._enroll)
        app.router.add_post("/api/join", self._join)
        app.router.add_post("/api/press", self._press)
        app.router.add_post("/api/say", self._say)
        app.router.add_post("/api/photo", self._photo)
        app.router.add_post("/api/clock", self._clock)
        return app

    # ---- page and state -------------------------------------------------------------------------------------

    async def _page(self, request: web.Request) -> web.StreamResponse:
        return web.FileResponse(PAGE, headers={"Cache-Control": "no-store"})

    def version(self) -> str:
        """Changes whenever anything the page shows changes (messages, edits, clock, button answers, busy)."""
        standin = self.world.standin
        parts: list[object] = [self.world.clock.now().isoformat(), self.busy, len(self.invitations)]
        for chat_id, chat in standin.world.chats.items():
            parts.append((chat_id, len(chat.messages), sum(len(m.history) + m.deleted for m in chat.messages)))
        parts.append(sum(1 for q in standin.world.callback_queries.values() if q.answered))
        return hashlib.sha1(repr(parts).encode()).hexdigest()[:16]

    async def state(self, patient: int | None = None, since: str | None = None) -> dict[str, Any]:
        """What the page shows: the clock, the patients, one patient's chat, the group; unchanged → tiny answer."""
        version = self.version()
        if since == version:
            return {"version": version, "changed": False}
        tz = self.world.settings.timezone
        now = self.world.local_now()
        patients = await self._patients()
        shown = (
            patient
            if any(p["user_id"] == patient for p in patients)
            else (patients[-1]["user_id"] if patients else None)
        )
        return {
            "version": version,
            "changed": True,
            "now": now.isoformat(),
            "now_label": _french_datetime(now),
            "busy": self.busy,
            "bot": SANDBOX_BOT_USERNAME,
            "patients": patients,
            "patient": shown,
            "phone": [self._message_json(m, tz) for m in self.world.standin.messages(shown)] if shown else [],
            "group": {
                "id": CLINICIAN_CHAT_ID,
                "title": CLINICIAN_GROUP_TITLE,
                "messages": [self._message_json(m, tz) for m in self.world.standin.messages(CLINICIAN_CHAT_ID)],
            },
            "invitations": await self._open_invitations(),
            "form": self._form_defaults(now.date()),
            "toasts": self._toasts(),
        }

    def _known_codes(self) -> dict[str, str]:
        """Invitation codes the sandbox has seen, by hash: its own form's, and every link the bot wrote in the group
        (a `/enroll` typed there by hand). The database keeps only hashes, so the code comes from the bot's reply."""
        codes = [i.code for i in self.invitations]
        for message in self.world.standin.messages(CLINICIAN_CHAT_ID):
            code = invitation_code(message.text or "") if message.from_bot else None
            if code is not None:
                codes.append(code)
        return {hash_code(code): code for code in codes}

    async def _open_invitations(self) -> list[dict[str, Any]]:
        """Every open invitation in the database, however it was made (issue 39, item 1), with its link if known."""
        services = self.world.services
        assert services is not None
        async with services.store.read() as tx:
            found = await sandbox_queries.open_invitations(tx, self.world.clock.now())
        codes = self._known_codes()
        tz = self.world.settings.timezone
        result = []
        for invitation in found:
            code = codes.get(invitation.code_hash)
            result.append(
                {
                    "study_id": invitation.study_id,
                    "site": invitation.site_code,
                    "arm": invitation.arm,
                    "fractions": invitation.fractions,
                    "expires": _french_date(invitation.expires_at.astimezone(tz).date()),
                    "code": code,
                    "link": invitation_link(code) if code else None,
                }
            )
        return result

    def _form_defaults(self, today: date) -> dict[str, Any]:
        """The enrol form's choices and defaults, from the virtual clock (not the browser's date: issue 39, item 3),
        the sites file and the trial file."""
        services = self.world.services
        assert services is not None
        sites = services.sites
        return {
            "today": today.isoformat(),
            "rt_start": (today + RT_START_DEFAULT_OFFSET).isoformat(),
            "sites": [{"code": code, "name": site.name} for code, site in sites.by_code.items()],
            "site": sites.enrolment_default,
            "arms": list(self.arms),
            "arm": DEFAULT_ARM if DEFAULT_ARM in self.arms else self.arms[0],
        }

    async def _patients(self) -> list[dict[str, Any]]:
        """Every fake patient chat, with its study id, status and study day once linked in the database."""
        services = self.world.services
        assert services is not None
        async with services.store.read() as tx:
            rows = await sandbox_queries.linked_patients(tx)
            caregiver_rows = await sandbox_queries.linked_caregivers(tx)
        linked = {r.telegram_user_id: r for r in rows}
        caregivers = {r.telegram_user_id: r for r in caregiver_rows}  # issue 36: the newest role of each chat wins
        today = self.world.local_now().date()
        result = []
        for chat_id, chat in self.world.standin.world.chats.items():
            if chat.type != "private":
                continue
            row = linked.get(chat_id)
            caregiver = caregivers.get(chat_id)
            if row is None and caregiver is not None:  # a caregiver's phone, beside the patients' (issue 36)
                result.append(
                    {
                        "user_id": chat_id,
                        "name": f"Aidant {caregiver.number} de {caregiver.study_id}",
                        "study_id": None,
                        "status": "caregiver_" + caregiver.status,
                        "day": None,
                    }
                )
                continue
            result.append(
                {
                    "user_id": chat_id,
                    "name": chat.first_name or str(chat_id),
                    "study_id": row.study_id if row else None,
                    "status": row.status if row else None,
                    "day": (today - row.rt_start).days if row else None,
                }
            )
        return result

    def _message_json(self, message: ChatMessage, tz: Any) -> dict[str, Any]:
        sent = datetime.fromtimestamp(message.date, tz)
        extra = message.extra
        photo = message.photo_file_id or (extra["photo"][-1]["file_id"] if extra.get("photo") else None)
        document = message.document_file_id or (extra.get("document") or {}).get("file_id")
        return {
            "id": message.message_id,
            "from_bot": message.from_bot,
            "sender": message.from_user.get("first_name", ""),
            "time": sent.strftime("%H:%M"),
            "day": _french_date(sent.date()),
            "text": message.text,
            "caption": message.caption,
            "photo": f"/api/file/{photo}" if photo else None,
            "document": {
                "url": f"/api/file/{document}",
                "name": (extra.get("document") or {}).get("file_name") or "document",
            }
            if document
            else None,
            "sticker": (extra.get("sticker") or {}).get("emoji"),
            "edited": message.edited,
            "buttons": [
                [{"text": b.get("text", ""), "data": b.get("callback_data"), "url": b.get("url")} for b in row]
                for row in message.buttons()
            ],
        }

    def _toasts(self) -> list[dict[str, Any]]:
        """The bot's latest answers to button presses that carry a text (shown as Telegram shows them)."""
        answered = [q for q in self.world.standin.world.callback_queries.values() if q.answer and q.answer.get("text")]
        return [
            {"id": q.id, "chat_id": q.chat_id, "text": q.answer["text"], "alert": bool(q.answer.get("show_alert"))}
            for q in answered[-TOASTS_KEPT:]
            if q.answer is not None
        ]

    async def _state(self, request: web.Request) -> web.StreamResponse:
        patient = _optional_int(request.query.get("patient"), "patient")
        return web.json_response(await self.state(patient, request.query.get("since")))

    async def _file(self, request: web.Request) -> web.StreamResponse:
        file_id = request.match_info["file_id"]
        try:
            data = self.world.standin.get_file_bytes(file_id)
        except KeyError:
            raise web.HTTPNotFound() from None
        stored = self.world.standin.world.files[file_id]
        return web.Response(body=data, content_type=stored.mime_type or "application/octet-stream")

    # ---- actions --------------------------------------------------------------------------------------------

    async def enroll(
        self,
        study_id: str,
        rt_start: str,
        fractions: int = 1,
        *,
        arm: str = "",
        site: str = "",
    ) -> dict[str, Any]:
        """The fake clinician writes `/enroll` in the group; the bot's reply (link or refusal) is returned.

        `arm` and `site` (empty: not named, the bot's defaults) are passed as `arm=` / `site=`: the bot validates
        them exactly as for a clinician typing them.
        """
        options = [f"{key}={value.strip()}" for key, value in (("arm", arm), ("site", site)) if value.strip()]
        if any(len(option.split()) != 1 for option in options):
            raise SandboxError("Bras ou site invalide : un seul mot attendu.")
        args = " ".join(part for part in (study_id.strip(), rt_start.strip()) if part)
        command = " ".join([f"/enroll {args}", *options, f"fractions={fractions}"])
        replies = await self.world.clinician_says(command)
        reply = "\n".join(m.text or "" for m in replies)
        code = invitation_code(reply)
        if code is None:
            return {"ok": False, "error": reply or "Le bot n'a pas répondu."}
        link = invitation_link(code)
        self.invitations.append(Invitation(study_id.strip(), code, link))
        return {"ok": True, "code": code, "link": link, "reply": reply}

    async def join(self, code: str) -> dict[str, Any]:
        """A new fake patient opens the invitation link: `/start <code>` in a fresh private chat."""
        code = code.strip()
        if "?start=" in code:
            code = code.split("?start=", 1)[1]
        if not code:
            raise SandboxError("Code d'invitation manquant.")
        study_id = next((i["study_id"] for i in await self._open_invitations() if i["code"] == code), None)
        name = f"Patient {study_id}" if study_id else ("Aidant" if code.startswith("aidant_") else None)
        user_id = self.world.new_patient_user(first_name=name)
        await self.world.patient_says(user_id, f"/start {code}")
        return {"ok": True, "user_id": user_id}

    async def press(self, chat_id: int, message_id: int, data: str) -> dict[str, Any]:
        """Press a button under a message (as the patient in their chat, as the clinician in the group)."""
        self._known_chat(chat_id)
        try:
            query_id = await self.world.press(chat_id, message_id, data)
        except ValueError:
            raise SandboxError("Ce bouton n'existe plus sous ce message.") from None
        answer = self.world.standin.callback_answer(query_id) or {}
        return {"ok": True, "answer": answer.get("text")}

    async def say(self, chat_id: int, text: str) -> dict[str, Any]:
        """Write a message (as the patient in their chat, as the clinician in the group)."""
        self._known_chat(chat_id)
        if not text.strip():
            raise SandboxError("Message vide.")
        if chat_id == CLINICIAN_CHAT_ID:
            await self.world.clinician_says(text)
        else:
            await self.world.patient_says(chat_id, text)
        return {"ok": True}

    async def send_box_photo(self, chat_id: int, box: str) -> dict[str, Any]:
        """The patient sends the photo of a sample box (issue 37; made-up codes, bot/medicines/samples.py)."""
        self._known_chat(chat_id)
        if chat_id == CLINICIAN_CHAT_ID:
            raise SandboxError("Seul le patient envoie une photo de boîte.")
        try:
            await self.world.patient_sends_box(chat_id, box)
        except KeyError:
            raise SandboxError("Boîte inconnue.") from None
        return {"ok": True}

    async def move_clock(self, action: str, patient: int | None = None) -> dict[str, Any]:
        """+1 hour, +1 day, or to the morning of study day 30 of `patient`, ticking at every step."""
        if action in JUMPS:
            end = self.world.clock.now() + JUMPS[action]
            label = {"hour": "+1 heure", "day": "+1 jour"}[action]
        elif action == "day30":
            rt_start = await self._rt_start(patient)
            end = datetime.combine(rt_start + timedelta(days=DAY_30), DAY_30_TIME, tzinfo=self.world.settings.timezone)
            if end <= self.world.clock.now():
                raise SandboxError("Le jour 30 de ce patient est déjà passé.")
            label = "jour 30"
        else:
            raise SandboxError(f"Action d'horloge inconnue : {action}.")
        if self._clock_lock.locked():
            raise SandboxError("L'horloge avance déjà.")
        async with self._clock_lock:
            self.busy = f"L'horloge avance ({label})…"
            try:
                await self.world.advance_to(end, step=STEP)
            finally:
                self.busy = None
        return {"ok": True, "now": self.world.local_now().isoformat()}

    async def _rt_start(self, patient: int | None) -> date:
        services = self.world.services
        assert services is not None
        async with services.store.read() as tx:
            if patient is not None:
                found = await patient_repo.find_by_telegram_user(tx, patient)
                rt_start = found.rt_start if found is not None else None
            else:
                rt_start = await sandbox_queries.latest_rt_start(tx)
        if rt_start is None:
            raise SandboxError("Inscrivez d'abord un patient (et faites-le rejoindre) pour aller à son jour 30.")
        return rt_start

    def _known_chat(self, chat_id: int) -> None:
        if chat_id not in self.world.standin.world.chats:
            raise SandboxError(f"Conversation inconnue : {chat_id}.")

    # ---- HTTP glue ------------------------------------------------------------------------------------------

    async def _enroll(self, request: web.Request) -> web.StreamResponse:
        body = await _body(request)
        fractions = _optional_int(body.get("fractions"), "fractions") or 1
        result = await self.enroll(
            str(body.get("study_id", "")),
            str(body.get("rt_start", "")),
            fractions,
            arm=str(body.get("arm") or ""),
            site=str(body.get("site") or ""),
        )
        return web.json_response(result, status=200 if result["ok"] else 400)

    async def _join(self, request: web.Request) -> web.StreamResponse:
        body = await _body(request)
        return web.json_response(await self.join(str(body.get("code", ""))))

    async def _press(self, request: web.Request) -> web.StreamResponse:
        body = await _body(request)
        return web.json_response(
            await self.press(
                _required_int(body, "chat_id"),
                _required_int(body, "message_id"),
                str(body.get("data", "")),
            )
        )

    async def _say(self, request: web.Request) -> web.StreamResponse:
        body = await _body(request)
        return web.json_response(await self.say(_required_int(body, "chat_id"), str(body.get("text", ""))))

    async def _photo(self, request: web.Request) -> web.StreamResponse:
        body = await _body(request)
        return web.json_response(await self.send_box_photo(_required_int(body, "chat_id"), str(body.get("box", ""))))

    async def _clock(self, request: web.Request) -> web.StreamResponse:
        body = await _body(request)
        return web.json_response(
            await self.move_clock(str(body.get("action", "")), _optional_int(body.get("patient"), "patient"))
        )


@web.middleware
async def _json_errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    """A refused action is a 400 with a French sentence the page shows; a bug is a 500 that says so and is logged."""
    try:
        return await handler(request)
    except SandboxError as exc:
        return web.json_response({"ok": False, "error": str(exc)}, status=400)
    except web.HTTPException:
        raise
    except Exception:
        log.exception("sandbox request %s failed", request.path)
        return web.json_response(
            {"ok": False, "error": "Erreur interne du bac à sable (voir le terminal)."}, status=500
        )


async def _body(request: web.Request) -> dict[str, Any]:
    try:
        body = await request.json()
    except ValueError:
        raise SandboxError("Requête invalide : JSON attendu.") from None
    if not isinstance(body, dict):
        raise SandboxError("Requête invalide : objet JSON attendu.")
    return body


def _optional_int(value: object, name: str) -> int | None:
    if value is None or value == "":
        return None
    try:
        return int(str(value))
    except ValueError:
        raise SandboxError(f"Champ {name} : nombre entier attendu.") from None


def _required_int(body: dict[str, Any], name: str) -> int:
    value = _optional_int(body.get(name), name)
    if value is None:
        raise SandboxError(f"Champ {name} manquant.")
    return value


_DAYS = ("lundi", "mardi", "mercredi", "jeudi", "vendredi", "samedi", "dimanche")
_MONTHS = (
    "janvier",
    "février",
    "mars",
    "avril",
    "mai",
    "juin",
    "juillet",
    "août",
    "septembre",
    "octobre",
    "novembre",
    "décembre",
)


def _french_date(day: date) -> str:
    """ "mardi 3 mars 2027" without depending on the system's locales."""
    return f"{_DAYS[day.weekday()]} {day.day} {_MONTHS[day.month - 1]} {day.year}"


def _french_datetime(moment: datetime) -> str:
    return f"{_french_date(moment.date())}, {moment:%H:%M}"


async def run_sandbox(
    settings: Settings,
    *,
    port: int = 8080,
    host: str = "127.0.0.1",
    data_dir: Path = Path("data"),
) -> int:
    """Run the sandbox until SIGINT/SIGTERM (Ctrl+C), then stop the page, the bot and the stand-in cleanly.

    Returns the exit code: 0 after a clean stop, 2 when the port or the data folder cannot be used.
    """
    # The tick job runs every 2 s here: APScheduler's two INFO lines per run would bury everything else.
    logging.getLogger("apscheduler.executors.default").setLevel(logging.WARNING)
    sandbox = Sandbox(settings, port=port, host=host, data_dir=data_dir)
    try:
        await sandbox.start()
    except DatabaseFileError as exc:
        print(f"Cannot start the sandbox: its database {exc.path} cannot be used: {exc.reason}.", file=sys.stderr)
        return 2
    except OSError as exc:
        print(
            f"Cannot start the sandbox on {host}:{port} ({exc.strerror or exc}); "
            f"try another port: {command('sandbox --port 8081')}",
            file=sys.stderr,
        )
        return 2
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    print(
        f"Offline sandbox: open {sandbox.url} in a browser (fake Telegram, virtual clock; Ctrl+C to stop).", flush=True
    )
    try:
        await stop.wait()
    finally:
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.remove_signal_handler(sig)
        await sandbox.stop()
    print("Sandbox stopped.")
    return 0
