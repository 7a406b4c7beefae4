"""Enrolling a patient and redeeming the one-time invitation."""

from __future__ import annotations

import secrets
from collections.abc import Collection
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Literal

from bot.clock import Clock
from bot.domain.enrolment import INVITATION_VALIDITY_DAYS, EnrolmentError, EnrolmentRequest
from bot.domain.models import Patient
from bot.domain.sites import Sites
from bot.i18n import _
from bot.services.status_labels import site_list
from bot.storage import audit, joining, patients
from bot.storage.inbox import current_update_id
from bot.storage.store import Store

# Repeated wrong /start codes: at most this many refusals per Telegram user per window are audited and looked at;
# past it every /start is refused without a look (slows down anyone guessing codes).
START_ATTEMPTS_PER_WINDOW = 5
START_ATTEMPT_WINDOW = timedelta(hours=1)


@dataclass(frozen=True)
class Invitation:
    study_id: str
    code: str
    expires_at: datetime
    site: str = ""  # the site the patient was enrolled at (named, or the only one)


async def enroll(
    store: Store,
    clock: Clock,
    request: EnrolmentRequest,
    *,
    actor: str,
    known_sites: Collection[str] | None = None,
    default_site: str | None = None,
    sites: Sites | None = None,
) -> Invitation:
    """Create the patient and a single-use invitation, in one transaction with its audit entry.

    `known_sites`: the sites with phone numbers configured (`Services.sites`); a patient at any other site would get
    advice without a number to call, so the enrolment is refused, naming the sites that exist.
    `default_site` (`Sites.enrolment_default`): the site of a request without `site=`; None with known sites
    refuses such a request (issue 32: several sites, the patient must not get another hospital's numbers).
    `sites`: given, a refusal names each site by its name with what to type (the clinicians' group); else by code
    (the command line).
    """

    def listed() -> str:
        return (
            site_list(sites, tuple(sorted(known_sites or ())))
            if sites is not None
            else ", ".join(sorted(known_sites or ()))
        )

    if not request.site_named and known_sites is not None:
        if default_site is None:
            raise EnrolmentError(
                _("Name the patient's site with site=<code>: there are several sites ({sites}).").format(sites=listed())
            )
        request = replace(request, site=default_site)
    if known_sites is not None and request.site not in known_sites:
        raise EnrolmentError(
            _("Unknown site {site}: its phone numbers are not configured. Known sites: {sites}.").format(
                site=request.site, sites=listed()
            )
        )
    now = clock.now()
    code = secrets.token_urlsafe(16)
    expires_at = now + timedelta(days=INVITATION_VALIDITY_DAYS)
    async with store.transaction() as tx:
        if await patients.find_by_study_id(tx, request.study_id):
            raise EnrolmentError(_("The study id {study_id} is already enrolled.").format(study_id=request.study_id))
        patient_id = await patients.create_patient(
            tx,
            study_id=request.study_id,
            site_code=request.site,
            arm=request.arm,
            rt_start=request.rt_start,
            fractions=request.fractions,
            now=now,
        )
        await patients.create_invitation(tx, patient_id=patient_id, code=code, now=now, expires_at=expires_at)
        await audit.record(
            tx,
            at=now,
            actor=actor,
            action="enroll",
            patient_id=patient_id,
            entity="patient",
            entity_id=request.study_id,
            new_value={
                "site": request.site,
                "arm": request.arm,
                "rt_start": request.rt_start.isoformat(),
                "fractions": request.fractions,
            },
        )
        await tx.commit()
    return Invitation(study_id=request.study_id, code=code, expires_at=expires_at, site=request.site)


JoinKind = Literal["joined", "already_joined", "refused", "rate_limited"]


@dataclass(frozen=True)
class JoinResult:
    kind: JoinKind
    patient: Patient | None = None


async def redeem(
    store: Store,
    clock: Clock,
    *,
    code: str | None,
    telegram_user_id: int,
    chat_id: int,
    telegram_date: datetime | None = None,
) -> JoinResult:
    """Bind an invitation to the first Telegram user who presents it; refuse everything else."""
    now = clock.now()
    stranger = f"stranger:{telegram_user_id}"
    async with store.transaction() as tx:
        known = await patients.find_by_telegram_user(tx, telegram_user_id)
        if known is not None:
            return JoinResult("already_joined", known)
        recent = await joining.refused_starts_since(tx, telegram_user_id, now - START_ATTEMPT_WINDOW)
        if recent >= START_ATTEMPTS_PER_WINDOW:
            return JoinResult("rate_limited")
        invitation = await patients.find_invitation(tx, code) if code else None
        usable = invitation is not None and invitation.redeemed_at is None and invitation.expires_at > now
        if not usable:
            reason = (
                "missing"
                if not code
                else "unknown"
                if invitation is None
                else "used"
                if invitation.redeemed_at
                else "expired"
            )
            # Keyed by the update: one handled again after a crash (`bot.telegram.inbox`) is refused again, so
            # the stranger gets the reply at least once, and counted by the rate limit (and audited) only once.
            update_id = current_update_id()
            if await joining.record_refused_start(
                tx, telegram_user_id=telegram_user_id, update_id=update_id, reason=reason, now=now
            ):
                await audit.record(
                    tx,
                    at=now,
                    actor=stranger,
                    action="start_refused",
                    telegram_date=telegram_date,
                    details={"reason": reason},
                    entity=None if update_id is None else "update",
                    entity_id=update_id,
                )
                await tx.commit()
            return JoinResult("refused")
        assert invitation is not None
        patient_id = invitation.patient_id
        await patients.redeem_invitation(tx, invitation.id, now)
        await patients.link_telegram(
            tx, patient_id=patient_id, telegram_user_id=telegram_user_id, chat_id=chat_id, now=now
        )
        await patients.set_status(tx, patient_id, "joined", now)
        patient = await patients.get_patient(tx, patient_id)
        assert patient is not None
        await audit.record(
            tx,
            at=now,
            actor=f"patient:{patient.study_id}",
            action="join",
            patient_id=patient_id,
            entity="invitation",
            entity_id=invitation.id,
            telegram_date=telegram_date,
        )
        await tx.commit()
    return JoinResult("joined", patient)
