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
from bot.domain.omed import OmedResult, OpioidCatalogue, Regimen, compute_omed
from bot.domain.questionnaire import Questionnaire, Value
from bot.services.clinical_context import regimens
from bot.storage import exports as export_repo
from bot.storage import instances as instance_repo
from bot.storage import medicines as medicine_repo
from bot.storage import patients as patient_repo
from bot.storage import team_regimens as team_repo
from bot.storage.db import is_postgres_url
from bot.storage.engines import open_store
from bot.storage.exports import AnswerRow, MessageRow, OmedStamp
from bot.storage.medicines import Scan
from bot.storage.store import Store
from bot.storage.team_regimens import TeamRegimen

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
    "instance_regimens",
    "OmedStamp",
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
class Dataset:
    """A consistent snapshot of the trial: patients, their instances and every answer row."""

    patients: tuple[Patient, ...]
    instances: tuple[Instance, ...]
    """Ordered by patient (site, study id), then opening time, then id."""
    answers: tuple[AnswerRow, ...]
    """Ordered by id (storage order)."""
    _instances_by_patient: Mapping[int, tuple[Instance, ...]] = field(default_factory=dict, repr=False)
    _rows_by_instance: Mapping[int, tuple[AnswerRow, ...]] = field(default_factory=dict, repr=False)
    team: Mapping[int, tuple[TeamRegimen, ...]] = field(default_factory=dict)
    """Regimens recorded by clinicians (/traitement), by patient, oldest first."""
    stamps: Mapping[tuple[int, str], OmedStamp] = field(default_factory=dict)
    """(instance id, table id) → the newest OMED stamp."""
    texts: Mapping[str, Questionnaire] = field(default_factory=dict)
    """Questionnaire content hash → the questionnaire as sent (questionnaire_texts, migration 0007)."""
    messages: tuple[MessageRow, ...] = ()
    """The patients' own messages (patient_messages, append-only), oldest first; no Telegram identity."""
    scans: Mapping[int, Scan] = field(default_factory=dict)
    """Answer row id → the box photo (issue 37, medicine_scans) the patient confirmed to give that answer: its CIP13
    and the date of the BDPM it was looked up in."""

    def questionnaire_of(self, inst: Instance, current: Mapping[str, Questionnaire]) -> Questionnaire | None:
        """The questionnaire as it was sent for `inst` (its stamped text), else the one loaded now."""
        if inst.questionnaire_hash and inst.questionnaire_hash in self.texts:
            return self.texts[inst.questionnaire_hash]
        return current.get(inst.questionnaire_id)

    @classmethod
    def build(
        cls,
        patients: Sequence[Patient],
        instances: Sequence[Instance],
        answers: Sequence[AnswerRow],
        *,
        team: Mapping[int, Sequence[TeamRegimen]] | None = None,
        stamps: Sequence[OmedStamp] = (),
        texts: Mapping[str, Questionnaire] | None = None,
        messages: Sequence[MessageRow] = (),
        scans: Mapping[int, Scan] | None = None,
    ) -> Dataset:
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
            team={k: tuple(v) for k, v in (team or {}).items()},
            stamps={(stamp.instance_id, stamp.table): stamp for stamp in stamps},  # newest last: it wins
            texts=dict(texts or {}),
            messages=tuple(messages),
            scans=dict(scans or {}),
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
    if is_postgres_url(path):  # a server database: nothing to check on disk, the connection says if it is there
        return await open_store(path, clock)
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
    return await open_store(path, clock)


def _without_nulls(data: object) -> object:
    """The canonical text lists every field, unset ones as null; the models take an absent field as unset (a
    condition must name exactly one kind)."""
    if isinstance(data, dict):
        return {k: _without_nulls(v) for k, v in data.items() if v is not None}
    if isinstance(data, list):
        return [_without_nulls(v) for v in data]
    return data


async def load_dataset(store: Store) -> Dataset:
    """Read patients, instances and all answer rows in one consistent read transaction."""
    async with store.read() as tx:
        patients = await patient_repo.list_patients(tx)
        instances: list[Instance] = []
        for patient in patients:
            instances.extend(await instance_repo.instances_for(tx, patient.id))
        answers = await export_repo.answer_rows(tx)
        team = await team_repo.for_patients(tx)
        stamps = await export_repo.omed_stamps(tx)
        text_rows = await export_repo.questionnaire_texts(tx)
        messages = await export_repo.message_rows(tx)
        scans = await medicine_repo.confirmed_by_answer(tx)
    texts: dict[str, Questionnaire] = {}
    for digest, body in text_rows.items():
        try:
            texts[digest] = Questionnaire.model_validate(_without_nulls(json.loads(body)))
        except (ValueError, TypeError):  # a text this code cannot read any more: the current file is used
            log.warning("questionnaire text %s cannot be read; its instances use the current file", digest)
    return Dataset.build(
        patients, instances, answers, team=team, stamps=stamps, texts=texts, messages=messages, scans=scans
    )


def instance_regimens(
    dataset: Dataset, patient_id: int, questionnaires: Mapping[str, Questionnaire]
) -> dict[int, Regimen]:
    """The regimen of every answered instance of a patient, carried forward exactly as the bot does it
    (`regimens` from `bot.services.clinical_context`, imported rather than rewritten, with the clinicians'
    entries). Each instance contributes its *effective* answers (those of items visible, `engine.effective_answers`)
    under the questionnaire *as it was sent* (its stamped text, `Dataset.questionnaire_of`), with its context items
    (`team_regimen`); an instance whose questionnaire is not known contributes its current answers as they are."""
    team = dataset.team.get(patient_id, ())
    history = []
    for inst, answers in dataset.answered_history(patient_id):
        questionnaire = dataset.questionnaire_of(inst, questionnaires)
        present = {**team_repo.context_for(inst.id, list(team)), **{k: v for k, v in answers.items() if v is not None}}
        history.append((inst, engine.effective_answers(questionnaire, present) if questionnaire else present))
    return regimens(history, team)


def _from_stamp(stamp: OmedStamp) -> OmedResult:
    details = stamp.details
    return OmedResult(
        mg=stamp.mg,
        table=stamp.table,
        unconverted=list(details.get("unconverted", [])),  # type: ignore[call-overload]  # details is stored JSON (object); its "unconverted" entry is a list of names
        to_confirm=list(details.get("to_confirm", [])),  # type: ignore[call-overload]  # details is stored JSON (object); its "to_confirm" entry is a list of names
        catalogue_version=stamp.catalogue_version,
        carried_forward=bool(details.get("carried_forward")),
        source=str(details.get("source", "patient")),
        stamped=True,
        rules_version=stamp.rules_version,
    )


def instance_omeds(
    dataset: Dataset,
    patient_id: int,
    questionnaires: Mapping[str, Questionnaire],
    catalogue: OpioidCatalogue,
    table: str | None = None,
) -> dict[int, OmedResult]:
    """OMED of every answered instance of a patient (instance id → result labelled with its table and version).

    The stamped OMED (`omed_stamps`, derived when the questionnaire was completed) when the regimen re-derived
    here is the one stamped: a later opioids.yaml does not re-label it. Otherwise (no stamp, e.g. before migration
    0008) computed now with `catalogue` (`stamped` False). Raises `UnknownTableError` for an unknown table.
    """
    table_id = table or catalogue.default_table
    catalogue.table(table_id)
    result: dict[int, OmedResult] = {}
    for instance_id, regimen in instance_regimens(dataset, patient_id, questionnaires).items():
        stamp = dataset.stamps.get((instance_id, table_id))
        if stamp is not None and stamp.regimen == regimen.model_dump_json():
            result[instance_id] = _from_stamp(stamp)
        else:
            result[instance_id] = compute_omed(regimen, catalogue, table_id)
    return result


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
