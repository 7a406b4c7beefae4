"""Made-up medicine-box photos: a GS1 DataMatrix on a cluttered box, rotated, scaled, blurred, in perspective.

Why generated: the decode rate must be measured on photos nobody tuned the decoder on, and real box photos carry
patients' names on pharmacy labels. Every code here is made up (CIP13s in 3400999xxxxxc, valid check digits, not
checked against the register): see docs/clinical/medicine-photos.md. Used by benchmarks/medicine_photos.py, the
tests and the sandbox's sample boxes.
"""

from __future__ import annotations

import io
import random
from dataclasses import dataclass
from datetime import date

from PIL import Image, ImageDraw, ImageFilter

from bot.medicines.datamatrix import make_datamatrix

#: Distortions the benchmark reports one by one, then all together ("mixed").
KINDS = ("plain", "rotation", "scale", "blur", "perspective", "clutter", "mixed")


def ean_check_digit(body: str) -> str:
    """The EAN-13 / GTIN check digit of 12 (or 13) digits (GS1 General Specifications §7.9.1)."""
    total = sum(int(d) * (3 if i % 2 == 0 else 1) for i, d in enumerate(reversed(body)))
    return str((10 - total % 10) % 10)


def made_up_cip13(rng: random.Random) -> str:
    body = "3400999" + "".join(rng.choice("0123456789") for _ in range(5))
    return body + ean_check_digit(body)


def gs1_hri(cip13: str, expiry: date, lot: str) -> str:
    """The element string of a French box: (01) GTIN-14 = 0 + CIP13, (17) expiry, (10) lot."""
    return f"(01)0{cip13}(17){expiry:%y%m%d}(10){lot}"


@dataclass(frozen=True)
class SamplePhoto:
    kind: str
    cip13: str
    hri: str
    jpeg: bytes


def _clutter(draw: ImageDraw.ImageDraw, size: tuple[int, int], rng: random.Random, amount: int) -> None:
    w, h = size
    for _ in range(amount):
        colour = tuple(rng.randrange(256) for _ in range(3))
        x, y = rng.randrange(w), rng.randrange(h)
        shape = rng.randrange(4)
        if shape == 0:
            draw.rectangle((x, y, x + rng.randrange(10, 200), y + rng.randrange(5, 80)), fill=colour)
        elif shape == 1:
            draw.line((x, y, rng.randrange(w), rng.randrange(h)), fill=colour, width=rng.randrange(1, 6))
        elif shape == 2:
            draw.ellipse((x, y, x + rng.randrange(10, 120), y + rng.randrange(10, 120)), outline=colour, width=3)
        else:
            draw.text((x, y), rng.choice(["LP 30 mg", "gélule", "Lot", "EXP", "14 gélules", "voie orale"]), fill=colour)


def _perspective_coeffs(src: list[tuple[float, float]], dst: list[tuple[float, float]]) -> list[float]:
    """Coefficients for Image.transform(PERSPECTIVE) mapping dst corners back to src corners."""
    import numpy as np

    rows = []
    for (x, y), (u, v) in zip(dst, src, strict=True):
        rows.append([x, y, 1, 0, 0, 0, -u * x, -u * y])
        rows.append([0, 0, 0, x, y, 1, -v * x, -v * y])
    a = np.array(rows, dtype=float)
    b = np.array([c for pt in src for c in pt], dtype=float)
    return [float(c) for c in np.linalg.solve(a, b)]


def make_photo(kind: str, rng: random.Random) -> SamplePhoto:
    """One photo of the given kind (KINDS), fully determined by the random generator's state."""
    mixed = kind == "mixed"
    cip13 = made_up_cip13(rng)
    lot = "".join(rng.choice("ABCDEFGHJKLMNPRSTUVWXYZ0123456789") for _ in range(rng.randrange(4, 10)))
    expiry = date(2026 + rng.randrange(4), rng.randrange(1, 13), rng.randrange(1, 29))
    hri = gs1_hri(cip13, expiry, lot)
    scale = rng.randrange(2, 9) if kind in ("scale", "mixed") else 5
    code = make_datamatrix(hri, scale=scale).convert("RGB")

    if kind in ("rotation", "mixed"):
        angle = rng.uniform(0, 360)
        mask = Image.new("L", code.size, 255).rotate(angle, expand=True, resample=Image.Resampling.BICUBIC)
        code = code.rotate(angle, expand=True, resample=Image.Resampling.BICUBIC)
    else:
        mask = Image.new("L", code.size, 255)

    box_colour = tuple(rng.randrange(120, 256) for _ in range(3))
    width, height = rng.randrange(640, 2400), rng.randrange(480, 1800)
    photo = Image.new("RGB", (width, height), box_colour)
    draw = ImageDraw.Draw(photo)
    _clutter(draw, photo.size, rng, 80 if kind in ("clutter", "mixed") else 6)
    x = rng.randrange(0, max(1, width - code.width))
    y = rng.randrange(0, max(1, height - code.height))
    photo.paste(code, (x, y), mask)

    if kind in ("perspective", "mixed"):
        w, h = photo.size
        j = 0.18 if not mixed else 0.10
        dst = [
            (rng.uniform(0, j) * w, rng.uniform(0, j) * h),
            (w - rng.uniform(0, j) * w, rng.uniform(0, j) * h),
            (w - rng.uniform(0, j) * w, h - rng.uniform(0, j) * h),
            (rng.uniform(0, j) * w, h - rng.uniform(0, j) * h),
        ]
        src = [(0.0, 0.0), (float(w), 0.0), (float(w), float(h)), (0.0, float(h))]
        photo = photo.transform(
            photo.size,
            Image.Transform.PERSPECTIVE,
            _perspective_coeffs(src, dst),
            Image.Resampling.BICUBIC,
            fillcolor=box_colour,
        )
    if kind in ("blur", "mixed"):
        photo = photo.filter(ImageFilter.GaussianBlur(rng.uniform(0.5, 2.0 if not mixed else 1.2)))

    buf = io.BytesIO()
    photo.save(buf, "JPEG", quality=rng.randrange(60, 92))
    return SamplePhoto(kind=kind, cip13=cip13, hri=hri, jpeg=buf.getvalue())


def box_photo(cip13: str, *, seed: int = 0) -> bytes:
    """A tidy sample box photo (JPEG) carrying a given CIP13: for the sandbox and end-to-end tests."""
    rng = random.Random(seed)
    hri = gs1_hri(cip13, date(2028, 6, 30), "LOT42")
    code = make_datamatrix(hri, scale=6).convert("RGB")
    photo = Image.new("RGB", (800, 600), (236, 240, 250))
    draw = ImageDraw.Draw(photo)
    _clutter(draw, photo.size, rng, 12)
    photo.paste(code, (500, 320))
    buf = io.BytesIO()
    photo.save(buf, "JPEG", quality=85)
    return buf.getvalue()
