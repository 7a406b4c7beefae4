"""Sample medicine boxes for the offline sandbox (issue 37): a small BDPM with MADE-UP codes and their photos.

Brand names are real French products so the flow shows what patients hold; every CIS and CIP13 is made up (CIS
6999xxxx, CIP13 3400999xxxxxc with a valid check digit; not checked against the register), and the other columns
are filler. Not for clinical use. The sandbox imports it into its fresh database at start.
"""

from __future__ import annotations

from dataclasses import dataclass

from bot.medicines.bdpm import FILES, BdpmComponent, BdpmData, BdpmFile, BdpmPresentation, BdpmProduct
from bot.medicines.synthetic import box_photo, ean_check_digit

#: The date the sample BDPM says it is from (made up as well).
SAMPLE_DATE = "2026-12-01"


@dataclass(frozen=True)
class SampleBox:
    key: str
    label: str
    """What the sandbox page offers (French)."""
    cis: str
    name: str
    form: str
    routes: str
    element: str
    components: tuple[tuple[str, str, str], ...]
    number: int

    @property
    def cip13(self) -> str:
        body = f"3400999{self.number:05d}"
        return body + ean_check_digit(body)


BOXES: tuple[SampleBox, ...] = (
    SampleBox(
        "skenan30",
        "Skenan LP 30 mg",
        "69998001",
        "SKENAN L.P. 30 mg, microgranules à libération prolongée en gélule",
        "microgranules à libération prolongée en gélule",
        "orale",
        "gélule",
        (("SULFATE DE MORPHINE PENTAHYDRATÉ", "30 mg", "SA"),),
        80001,
    ),
    SampleBox(
        "oxycontin20",
        "Oxycontin LP 20 mg",
        "69998002",
        "OXYCONTIN L.P. 20 mg, comprimé pelliculé à libération prolongée",
        "comprimé pelliculé à libération prolongée",
        "orale",
        "comprimé",
        (("CHLORHYDRATE D'OXYCODONE", "20 mg", "SA"),),
        80002,
    ),
    SampleBox(
        "actiskenan10",
        "Actiskenan 10 mg (interdose)",
        "69998003",
        "ACTISKENAN 10 mg, gélule",
        "gélule",
        "orale",
        "gélule",
        (("SULFATE DE MORPHINE PENTAHYDRATÉ", "10 mg", "SA"),),
        80003,
    ),
    SampleBox(
        "doliprane1000",
        "Doliprane 1000 mg (pas un opioïde)",
        "69998004",
        "DOLIPRANE 1000 mg, comprimé",
        "comprimé",
        "orale",
        "comprimé",
        (("PARACÉTAMOL", "1000 mg", "SA"),),
        80004,
    ),
)
#: A photo without any code ("the code could not be read").
NO_CODE = "sans_code"


def sample_bdpm() -> BdpmData:
    products = tuple(BdpmProduct(b.cis, b.name, b.form, b.routes) for b in BOXES)
    presentations = tuple(BdpmPresentation(b.cip13, b.cis, b.cip13[5:12], "1 boîte") for b in BOXES)
    compositions = tuple(
        BdpmComponent(b.cis, b.element, str(9000 + i), substance, strength, f"un {b.element}", nature, str(i))
        for b in BOXES
        for i, (substance, strength, nature) in enumerate(b.components, start=1)
    )
    counts = {"products": len(products), "presentations": len(presentations), "compositions": len(compositions)}
    return BdpmData(
        products=products,
        presentations=presentations,
        compositions=compositions,
        files=tuple(BdpmFile(name, "utf-8", SAMPLE_DATE, counts[key]) for key, name in FILES.items()),
    )


def sample_photo(key: str) -> bytes:
    """The photo of a sample box (JPEG), or of a box with no readable code (`NO_CODE`)."""
    import io

    from PIL import Image, ImageDraw

    for box in BOXES:
        if box.key == key:
            return box_photo(box.cip13, seed=box.number)
    if key != NO_CODE:
        raise KeyError(key)
    image = Image.new("RGB", (800, 600), (236, 240, 250))
    ImageDraw.Draw(image).text((40, 40), "SKENAN LP 30 mg — 14 gélules", fill=(20, 40, 120))
    buf = io.BytesIO()
    image.save(buf, "JPEG", quality=85)
    return buf.getvalue()
