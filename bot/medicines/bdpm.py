"""The three files of the French public drug database (base de données publique des médicaments, BDPM) that map a
CIP13 to a product: reading them (pure; no database here).

Format: « Contenu et format des fichiers téléchargeables dans la BDM », ANSM (docs/clinical/medicine-photos.md):
tab-separated, no header line, one row per line.
  CIS_bdpm.txt        CIS, denomination, pharmaceutical form, routes (";"-separated), AMM status, … (12 columns)
  CIS_CIP_bdpm.txt    CIS, CIP7, presentation label, status, marketing state, date, CIP13, … (13 columns)
  CIS_COMPO_bdpm.txt  CIS, element (e.g. "gélule"), substance code, substance name, strength ("30 mg"), reference
                      ("une gélule"), nature (SA active substance / FT therapeutic fraction), link number (8 columns)
Encoding: published over the years both in Windows-1252 (latin-1 family) and in UTF-8; `decode_bdpm` detects it.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

FILES = {"products": "CIS_bdpm.txt", "presentations": "CIS_CIP_bdpm.txt", "compositions": "CIS_COMPO_bdpm.txt"}


class BdpmError(Exception):
    """A BDPM file is missing or not in the expected format; the message names the file and the line."""


def decode_bdpm(data: bytes) -> tuple[str, str]:
    """(text, encoding): UTF-8 when the bytes are valid UTF-8 (a latin-1/cp1252 French text with accents almost
    never is), else Windows-1252, else latin-1 (which decodes any byte)."""
    if data.startswith(b"\xef\xbb\xbf"):
        return data[3:].decode("utf-8"), "utf-8"
    try:
        return data.decode("utf-8"), "utf-8"
    except UnicodeDecodeError:
        pass
    try:
        return data.decode("cp1252"), "cp1252"
    except UnicodeDecodeError:
        return data.decode("latin-1"), "latin-1"


@dataclass(frozen=True)
class BdpmProduct:
    cis: str
    name: str
    form: str
    routes: str


@dataclass(frozen=True)
class BdpmPresentation:
    cip13: str
    cis: str
    cip7: str
    label: str


@dataclass(frozen=True)
class BdpmComponent:
    cis: str
    element: str
    substance_code: str
    substance: str
    strength: str
    reference: str
    nature: str
    link: str


@dataclass(frozen=True)
class BdpmFile:
    name: str
    encoding: str
    file_date: str
    """The file's modification date (UTC, YYYY-MM-DD): the BDPM publication it comes from."""
    rows: int


@dataclass(frozen=True)
class BdpmData:
    products: tuple[BdpmProduct, ...]
    presentations: tuple[BdpmPresentation, ...]
    compositions: tuple[BdpmComponent, ...]
    files: tuple[BdpmFile, ...]


def _rows(name: str, text: str, columns: int) -> list[list[str]]:
    rows = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        cells = [c.strip() for c in line.split("\t")]
        if len(cells) < columns:
            raise BdpmError(f"{name}, line {number}: {len(cells)} columns, at least {columns} expected")
        rows.append(cells)
    return rows


def read_directory(directory: Path) -> BdpmData:
    """Read the three files from `directory` (each in its own detected encoding)."""
    from datetime import UTC, datetime

    texts: dict[str, str] = {}
    files = []
    for key, name in FILES.items():
        path = directory / name
        try:
            data = path.read_bytes()
            mtime = path.stat().st_mtime
        except OSError as exc:
            raise BdpmError(f"{path}: cannot be read ({exc.strerror or exc})") from None
        texts[key], encoding = decode_bdpm(data)
        stamp = datetime.fromtimestamp(mtime, UTC).date().isoformat()
        files.append((name, encoding, stamp))
    products = tuple(BdpmProduct(r[0], r[1], r[2], r[3]) for r in _rows(FILES["products"], texts["products"], 4))
    presentations = tuple(
        BdpmPresentation(cip13=r[6], cis=r[0], cip7=r[1], label=r[2])
        for r in _rows(FILES["presentations"], texts["presentations"], 7)
    )
    for p in presentations:
        if not (len(p.cip13) == 13 and p.cip13.isdigit()):
            raise BdpmError(f"{FILES['presentations']}: CIS {p.cis}: CIP13 {p.cip13!r} is not 13 digits")
    compositions = tuple(BdpmComponent(*r[:8]) for r in _rows(FILES["compositions"], texts["compositions"], 8))
    counts = {"products": len(products), "presentations": len(presentations), "compositions": len(compositions)}
    return BdpmData(
        products=products,
        presentations=presentations,
        compositions=compositions,
        files=tuple(
            BdpmFile(name, enc, stamp, counts[key]) for key, (name, enc, stamp) in zip(FILES, files, strict=True)
        ),
    )
