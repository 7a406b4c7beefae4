"""The BDPM tables (migration 0017) and the box photos' scans: import, CIP13 lookup, scans beside the answers.

Why replace everything on import: the BDPM is published whole, not as changes; replacing the three tables in one
transaction makes an import idempotent and a refresh a plain re-import, and a lookup never sees half of one.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from bot.clock import utc_iso
from bot.medicines.bdpm import FILES, BdpmData
from bot.medicines.matching import BoxFacts, Component
from bot.storage.store import Tx

_CHUNK = 200


async def _insert_many(tx: Tx, table: str, columns: Sequence[str], rows: Iterable[Sequence[Any]]) -> None:
    """Multi-row INSERTs, 200 rows a statement (a real BDPM has some 30,000 rows per file)."""
    batch: list[Sequence[Any]] = []
    one = "(" + ", ".join("?" for _ in columns) + ")"

    async def flush() -> None:
        if batch:
            sql = f"INSERT INTO {table} ({', '.join(columns)}) VALUES " + ", ".join(one for _ in batch)
            await tx.execute_count(sql, [value for row in batch for value in row])
            batch.clear()

    for row in rows:
        batch.append(row)
        if len(batch) == _CHUNK:
            await flush()
    await flush()


async def replace_bdpm(tx: Tx, data: BdpmData, *, now: datetime) -> None:
    """Replace the BDPM tables with `data` (the caller commits)."""
    for table in ("bdpm_compositions", "bdpm_presentations", "bdpm_products", "bdpm_files"):
        await tx.execute_count(f"DELETE FROM {table}")
    await _insert_many(
        tx,
        "bdpm_products",
        ("cis", "name", "form", "routes"),
        ((p.cis, p.name, p.form, p.routes) for p in data.products),
    )
    seen: set[str] = set()
    presentations = []
    for p in data.presentations:  # a CIP13 listed twice keeps its first row
        if p.cip13 not in seen:
            seen.add(p.cip13)
            presentations.append((p.cip13, p.cis, p.cip7, p.label))
    await _insert_many(tx, "bdpm_presentations", ("cip13", "cis", "cip7", "label"), presentations)
    positions: dict[str, int] = {}
    compositions = []
    for c in data.compositions:
        positions[c.cis] = positions.get(c.cis, 0) + 1
        compositions.append(
            (
                c.cis,
                positions[c.cis],
                c.element,
                c.substance_code,
                c.substance,
                c.strength,
                c.reference,
                c.nature,
                c.link,
            )
        )
    await _insert_many(
        tx,
        "bdpm_compositions",
        ("cis", "position", "element", "substance_code", "substance", "strength", "reference", "nature", "link"),
        compositions,
    )
    await _insert_many(
        tx,
        "bdpm_files",
        ("name", "encoding", "file_date", "row_count", "imported_at"),
        ((f.name, f.encoding, f.file_date, f.rows, utc_iso(now)) for f in data.files),
    )


@dataclass(frozen=True)
class BdpmBox:
    cip13: str
    cis: str
    facts: BoxFacts
    bdpm_date: str | None


async def bdpm_date(tx: Tx) -> str | None:
    """The date of the imported CIS_CIP_bdpm.txt (None before any import)."""
    row = await tx.fetchone("SELECT file_date FROM bdpm_files WHERE name = ?", (FILES["presentations"],))
    return str(row["file_date"]) if row else None


async def lookup(tx: Tx, cip13: str) -> BdpmBox | None:
    """The BDPM product of a CIP13, or None when the imported BDPM does not list it."""
    rows = await tx.fetch_each(
        [
            (
                "SELECT p.cis, p.name, p.form, p.routes FROM bdpm_presentations c JOIN bdpm_products p ON p.cis = c.cis"
                " WHERE c.cip13 = ?",
                (cip13,),
            ),
            (
                "SELECT m.element, m.substance, m.strength, m.nature FROM bdpm_compositions m"
                " JOIN bdpm_presentations c ON c.cis = m.cis WHERE c.cip13 = ? ORDER BY m.position",
                (cip13,),
            ),
            ("SELECT file_date FROM bdpm_files WHERE name = ?", (FILES["presentations"],)),
        ]
    )
    product_rows, component_rows, date_rows = rows
    if not product_rows:
        return None
    p = product_rows[0]
    # The strength on the box is the active substance's (SA) as written in the name; a therapeutic fraction (FT)
    # row restates it as the base: SA rows first, FT rows after.
    ordered = sorted(component_rows, key=lambda r: 0 if r["nature"] == "SA" else 1)
    facts = BoxFacts(
        name=p["name"],
        form=p["form"],
        routes=tuple(r.strip() for r in str(p["routes"]).split(";") if r.strip()),
        components=tuple(Component(r["substance"], r["strength"]) for r in ordered),
        element=str(component_rows[0]["element"]) if component_rows else "",
    )
    return BdpmBox(
        cip13=cip13, cis=str(p["cis"]), facts=facts, bdpm_date=str(date_rows[0]["file_date"]) if date_rows else None
    )


# --- scans -------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Scan:
    id: int
    patient_id: int
    instance_id: int
    item_id: str
    status: str
    cip13: str | None
    product_code: str | None
    display: str | None
    bdpm_date: str | None
    answer_id: int | None


def _scan(r: Any) -> Scan:
    return Scan(
        id=int(r["id"]),
        patient_id=int(r["patient_id"]),
        instance_id=int(r["instance_id"]),
        item_id=str(r["item_id"]),
        status=str(r["status"]),
        cip13=r["cip13"],
        product_code=r["product_code"],
        display=r["display"],
        bdpm_date=r["bdpm_date"],
        answer_id=int(r["answer_id"]) if r["answer_id"] is not None else None,
    )


async def record_scan(
    tx: Tx,
    *,
    patient_id: int,
    instance_id: int,
    item_id: str,
    status: str,
    now: datetime,
    cip13: str | None = None,
    expiry: str | None = None,
    lot: str | None = None,
    product_code: str | None = None,
    display: str | None = None,
    bdpm_date: str | None = None,
) -> int:
    return await tx.execute(
        "INSERT INTO medicine_scans (patient_id, instance_id, item_id, status, cip13, expiry, lot, product_code,"
        " display, bdpm_date, created_at, decided_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (
            patient_id,
            instance_id,
            item_id,
            status,
            cip13,
            expiry,
            lot,
            product_code,
            display,
            bdpm_date,
            utc_iso(now),
            None if status == "proposed" else utc_iso(now),
        ),
    )


async def get_scan(tx: Tx, scan_id: int) -> Scan | None:
    row = await tx.fetchone("SELECT * FROM medicine_scans WHERE id = ?", (scan_id,))
    return _scan(row) if row else None


async def decide(tx: Tx, scan_id: int, *, status: str, now: datetime, answer_id: int | None = None) -> bool:
    """proposed → confirmed / declined, once (False when it was already decided: a double tap)."""
    changed = await tx.execute_count(
        "UPDATE medicine_scans SET status = ?, answer_id = ?, decided_at = ? WHERE id = ? AND status = 'proposed'",
        (status, answer_id, utc_iso(now), scan_id),
    )
    return changed == 1


async def confirmed_by_answer(tx: Tx) -> dict[int, Scan]:
    """Every confirmed scan by the id of the product answer it gave (exports)."""
    rows = await tx.fetchall("SELECT * FROM medicine_scans WHERE status = 'confirmed' AND answer_id IS NOT NULL")
    return {int(r["answer_id"]): _scan(r) for r in rows}


class ScanAlreadyDecided(Exception):
    """The scan was confirmed or declined meanwhile (a second press): the answer's transaction rolls back."""


def link_confirmed_scan(tx: Tx, *, scan_id: int, instance_id: int, item_id: str, now: datetime) -> None:
    """Mark a proposed scan confirmed and tie it to the answer row just stored for its item.

    Deferred after the answer row (also deferred), so the sub-select finds it: one commit for both. Raises
    `ScanAlreadyDecided` at that commit when the scan is no longer proposed."""
    tx.defer(
        "UPDATE medicine_scans SET status = 'confirmed', decided_at = ?, answer_id = (SELECT MAX(id) FROM"
        " answers WHERE instance_id = ? AND item_id = ?) WHERE id = ? AND status = 'proposed'",
        (utc_iso(now), instance_id, item_id, scan_id),
        unless_changed=ScanAlreadyDecided(),
    )
