"""The export package's boundary with the outside world: opening an existing database, reading it into plain
records, and writing an output file atomically.

Why one snapshot of plain records: every export and the trial report must describe the *same* state of the trial,
so the whole database is read inside one read transaction, then everything downstream is pure functions over
`Dataset` (testable without SQLite, and replayable). `instance_omeds` derives each instance's OMED from that
snapshot the way the bot does, so the CSV export and the trial report cannot disagree. `telegram_links` is never read here: the Telegram identity
of a patient is the one thing an export must never contain (pseudonymisation, see the schema).

Why atomic writes: an export interrupted half-way (disk full, Ctrl-C) must not leave a plausible-looking but
truncated file next to the good ones; the output appears complete or not at all.
"""

from __future__ import annotations

import json
import logging
import os
import tempfile
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from bot.clock import Clock
from bot.domain import engine
from bot.domain.models import Instance, Patient
from bot.domain.omed import OmedResult, OpioidCatalogue, compute_omed
from bot.domain.questionnaire import Questionnaire, Value
from bot.services.clinical_context import regimens
from bot.storage import instances as instance_repo
from bot.storage import patients as patient_repo
from bot.storage.store import Store

__all__ = [
    "ExportError",
    "DatabaseUnusableError",
    "NO_PATIENTS_MESSAGE",
    "AnswerRow",
    "Dataset",
    "ANSWERED_STATUSES",
    "open_existing_store",
    "load_dataset",
    "require_patients",
    "instance_omeds",
    "check_writable",
    "atomic_write",
]

log = logging.getLogger(__name__)

SQLITE_HEADER = b"SQLite format 3\x00"
"""The first 16 bytes of every SQLite 3 database file (sqlite.org/fileformat.html, section 1.3)."""

ANSWERED_STATUSES: tuple[str, ...] = ("open", "completed", "missed")
"""Instance statuses whose answers form a patient's history (as in `bot.services.clinical_context`)."""


NO_PATIENTS_MESSAGE = "The database contains no patients: there is nothing to export."


class ExportError(Exception):
    """An export or report cannot be produced; the message is one sentence for the operator."""


class DatabaseUnusableError(ExportError):
    """The database to export is missing, not a file, unreadable or not SQLite (the CLI says where its path came
    from: `--database` or `BOT_DATABASE`)."""


@dataclass(frozen=True)
class AnswerRow:
    """One stored row of `answers` (append-only): corrections are rows too, never overwrites.

    `superseded` is True when a newer row exists for the same instance and item, i.e. this is not the current
    answer. Times are the stored UTC ISO-8601 text, passed through untouched.
    """

    id: int
    instance_id: int
    item_id: str
    value: Value | None
    answered_at: str
    received_at: str
    is_correction: bool
    superseded: bool
    source: str = "patient"
    """"patient" (their own chat) or "phone" (entered by a research nurse from the clinicians' group)."""


@dataclass(frozen=True)
class Dataset:
    """A consistent snapshot of the trial: patients, their instances and every answer row."""

    patients: tuple[Patient, ...]
    instances: tuple[Instance, ...]
    """Ordered by patient (site, study id), then opening time, then id."""
    answers: tuple[AnswerRow, ...]
    """Ordered by id (storage order)."""
    _instances_by_patient: Mapping[int, tuple[Instance, ...]] = field(default_factory=dict, repr=False)
    _rows_by_instance: Mapping[int, tuple[AnswerRow, ...]] = field(default_factory=dict, repr=False)

    @classmethod
    def build(
        cls, patients: Sequence[Patient], instances: Sequence[Instance], answers: Sequence[AnswerRow]
    ) -> "Dataset":
        """Index the records; `instances` and `answers` keep the order given."""
        by_patient: dict[int, list[Instance]] = defaultdict(list)
        for inst in instances:
            by_patient[inst.patient_id].append(inst)
        by_instance: dict[int, list[AnswerRow]] = defaultdict(list)
        for row in answers:
            by_instance[row.instance_id].append(row)
        return cls(
            patients=tuple(patients),
            instances=tuple(instances),
            answers=tuple(answers),
            _instances_by_patient={k: tuple(v) for k, v in by_patient.items()},
            _rows_by_instance={k: tuple(v) for k, v in by_instance.items()},
        )

    def instances_of(self, patient_id: int) -> tuple[Instance, ...]:
        """The patient's instances, oldest first."""
        return self._instances_by_patient.get(patient_id, ())

    def rows_of(self, instance_id: int) -> tuple[AnswerRow, ...]:
        """Every answer row of the instance (corrections included), in storage order."""
        return self._rows_by_instance.get(instance_id, ())

    def current_answers(self, instance_id: int) -> dict[str, Value | None]:
        """item id → newest value, like `bot.storage.instances.current_answers`."""
        return {row.item_id: row.value for row in self.rows_of(instance_id) if not row.superseded}

    def current_rows(self, instance_id: int) -> dict[str, AnswerRow]:
        """item id → newest row (its value, time and source)."""
        return {row.item_id: row for row in self.rows_of(instance_id) if not row.superseded}

    def answered_history(self, patient_id: int) -> list[tuple[Instance, dict[str, Value | None]]]:
        """Instances with at least one answer and an answered status, oldest first, with their current answers.

        Mirrors `bot.services.clinical_context.answered_history`, so OMEDs carried forward here are those the bot
        itself computed.
        """
        history: list[tuple[Instance, dict[str, Value | None]]] = []
        for inst in self.instances_of(patient_id):
            if inst.status in ANSWERED_STATUSES:
                answers = self.current_answers(inst.id)
                if answers:
                    history.append((inst, answers))
        return history


async def open_existing_store(path: str | Path, clock: Clock) -> Store:
    """Open the database at `path` for an export, never creating it.

    `Store.open` would create an empty database for a mistyped path and the export would then report "no
    patients"; an operator should instead learn that the file is not there.
    """
    path = Path(path)
    if not path.exists():
        raise DatabaseUnusableError(f"The database file {path} does not exist.")
    if not path.is_file():
        raise DatabaseUnusableError(f"The database path {path} is not a file.")
    try:
        with path.open("rb") as handle:
            header = handle.read(len(SQLITE_HEADER))
    except OSError as exc:
        raise DatabaseUnusableError(f"The database file {path} cannot be read ({exc.strerror}).") from None
    if header != SQLITE_HEADER:
        raise DatabaseUnusableError(f"The file {path} is not a SQLite database.")
    return await Store.open(path, clock)


def _decode(raw: str, answer_id: int) -> Value | None:
    try:
        return json.loads(raw)  # type: ignore[no-any-return]
    except json.JSONDecodeError:
        # Never drop a stored row from an export: keep the text as it is, and say so in the log.
        log.warning("answer %s holds a value that is not JSON; exported as text", answer_id)
        return raw


async def load_dataset(store: Store) -> Dataset:
    """Read patients, instances and all answer rows in one consistent read transaction."""
    async with store.read() as tx:
        patients = await patient_repo.list_patients(tx)
        instances: list[Instance] = []
        for patient in patients:
            instances.extend(await instance_repo.instances_for(tx, patient.id))
        rows = await tx.fetchall(
            "SELECT a.id, a.instance_id, a.item_id, a.value, a.answered_at, a.received_at, a.is_correction, a.source,"
            " EXISTS (SELECT 1 FROM answers b WHERE b.instance_id = a.instance_id AND b.item_id = a.item_id"
            " AND b.id > a.id) AS superseded FROM answers a ORDER BY a.id"
        )
    answers = [
        AnswerRow(
            id=int(r["id"]),
            instance_id=int(r["instance_id"]),
            item_id=r["item_id"],
            value=_decode(r["value"], int(r["id"])),
            answered_at=r["answered_at"],
            received_at=r["received_at"],
            is_correction=bool(r["is_correction"]),
            superseded=bool(r["superseded"]),
            source=r["source"],
        )
        for r in rows
    ]
    return Dataset.build(patients, instances, answers)


def instance_omeds(
    dataset: Dataset,
    patient_id: int,
    questionnaires: Mapping[str, Questionnaire],
    catalogue: OpioidCatalogue,
    table: str | None = None,
) -> dict[int, OmedResult]:
    """OMED of every answered instance of a patient (instance id → result labelled with its table).

    The regimen is carried forward from instance to instance exactly as the bot does it (`regimens` from
    `bot.services.clinical_context`, imported rather than rewritten). Each instance contributes its *effective*
    answers (those of items visible now, `engine.effective_answers`), as `regimen_from_answers` requires: an answer
    to an item hidden by a later change of branch must not count. An instance whose questionnaire is not loaded
    contributes its current answers as they are. Raises `UnknownTableError` for an unknown table.
    """
    history = []
    for inst, answers in dataset.answered_history(patient_id):
        questionnaire = questionnaires.get(inst.questionnaire_id)
        present = {k: v for k, v in answers.items() if v is not None}
        history.append((inst, engine.effective_answers(questionnaire, present) if questionnaire else present))
    return {
        instance_id: compute_omed(regimen, catalogue, table)
        for instance_id, regimen in regimens(history).items()  # type: ignore[arg-type]
    }


def require_patients(dataset: Dataset) -> None:
    """An export of a database without patients is almost always the wrong file: say so instead of writing an
    empty file that looks like a successful export."""
    if not dataset.patients:
        raise ExportError(NO_PATIENTS_MESSAGE)


def check_writable(path: str | Path) -> Path:
    """Fail early (before reading the database) when `path` cannot be written as a file."""
    path = Path(path)
    if path.is_dir():
        raise ExportError(f"Cannot write {path}: it is a directory, give a file name.")
    parent = path.parent
    if not parent.is_dir():
        raise ExportError(f"Cannot write {path}: the folder {parent} does not exist.")
    if not os.access(parent, os.W_OK):
        raise ExportError(f"Cannot write {path}: the folder {parent} is not writable.")
    return path


def atomic_write(path: str | Path, content: str | bytes) -> None:
    """Write `content` (text as UTF-8) to `path` through a temporary file in the same folder and a rename."""
    path = check_writable(path)
    data = content.encode("utf-8") if isinstance(content, str) else content
    tmp_name: str | None = None
    try:
        with tempfile.NamedTemporaryFile("wb", dir=path.parent, prefix=f".{path.name}.", delete=False) as handle:
            tmp_name = handle.name
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp_name, path)
        tmp_name = None
    except OSError as exc:
        raise ExportError(f"Cannot write {path}: {exc.strerror or exc}.") from None
    finally:
        if tmp_name is not None:
            try:
                os.unlink(tmp_name)
            except OSError:
                pass
