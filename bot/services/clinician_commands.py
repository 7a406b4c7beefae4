"""What the clinicians' commands and buttons record: the command itself in the audit trail, "Pris en charge" under
an alert, the closed loop after it (action, outcome), and the team's regimen as last recorded.

Why a service: a handler parses the update, calls one of these and renders the result (issue 19); the transaction
that writes a fact and its audit entry together, atomically, is opened here, never in `bot/telegram/`.
"""

from __future__ import annotations

from datetime import datetime

from bot.domain.followup import FollowupKind
from bot.services.container import Services
from bot.storage import alerts, audit, team_regimens
from bot.storage.team_regimens import TeamRegimen

__all__ = ["acknowledge_alert", "record_command", "record_followup", "team_regimens_of"]


async def record_command(
    services: Services,
    *,
    user_id: int,
    command: str,
    args: list[str],
    telegram_date: datetime | None,
) -> None:
    """Every clinician command goes into the audit trail (who, what, when)."""
    async with services.store.transaction() as tx:
        await audit.record(
            tx,
            at=services.clock.now(),
            actor=f"clinician:{user_id}",
            action=f"command:{command}",
            details={"args": args},
            telegram_date=telegram_date,
        )
        await tx.commit()


async def acknowledge_alert(services: Services, alert_id: int, *, by: int) -> datetime | None:
    """Record who took care of the alert and when (audited); that moment, or None when it was already taken care of
    (or does not exist)."""
    now = services.clock.now()
    async with services.store.transaction() as tx:
        done = await alerts.acknowledge(tx, alert_id, by=by, now=now)
        if done:
            alert = await alerts.get_alert(tx, alert_id)
            await audit.record(
                tx,
                at=now,
                actor=f"clinician:{by}",
                action="acknowledge",
                patient_id=alert.patient_id if alert else None,
                entity="alert",
                entity_id=alert_id,
            )
        await tx.commit()
    return now if done else None


async def record_followup(
    services: Services,
    alert_id: int,
    *,
    kind: FollowupKind,
    code: str,
    by: int,
) -> datetime | None:
    """Record an action or an outcome of an alert already taken care of (append-only, audited); the moment it was
    recorded, or None (nothing written) when the alert is unknown or not taken care of yet. Pressing the code that
    is already current for its kind writes nothing (idempotent); another code is a correction, a new row."""
    now = services.clock.now()
    async with services.store.transaction() as tx:
        alert = await alerts.get_alert(tx, alert_id)
        if alert is None or alert.acknowledged_at is None:
            return None
        if await alerts.current_followup_code(tx, alert_id, kind) == code:
            # Idempotent (issue 39, item 7): a repeated press (a double tap, a retried callback) says what is
            # already current; a duplicate row would count the action twice in the telemonitoring yield.
            return now
        await alerts.record_followup(tx, alert_id, kind=kind, code=code, by=by, now=now)
        await audit.record(
            tx,
            at=now,
            actor=f"clinician:{by}",
            action=f"alert_{kind}",
            patient_id=alert.patient_id,
            entity="alert",
            entity_id=alert_id,
            new_value=code,
        )
        await tx.commit()
    return now


async def team_regimens_of(services: Services, patient_id: int) -> list[TeamRegimen]:
    """The regimens the team recorded for the patient (/traitement), oldest first."""
    async with services.store.read() as tx:
        return list(await team_regimens.for_patient(tx, patient_id))
