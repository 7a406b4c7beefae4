"""Image bytes → the GS1 codes of a French medicine box (GTIN, CIP13, expiry, lot).

Why zxing-cpp: it is maintained, Apache-2.0, and ships self-contained wheels (no system library such as libdmtx).
Why biip: the GS1 application identifiers (variable-length lot, FNC1 separators, check digits, YYMMDD dates with
day 00) are easy to get subtly wrong by hand.

Everything here is synchronous and CPU-bound: the bot calls `decode_box_photo` through `asyncio.to_thread`. The
photo is only held in memory for the call; nothing is written anywhere.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from datetime import date

import biip
import zxingcpp
from biip.gs1_messages import GS1Message
from PIL import Image, ImageOps

# A photo larger than this (longest side, pixels) is downscaled first: phone photos are 12 Mpx and a box's
# DataMatrix is still ≥ 100 px wide at this size, while decoding time grows with the pixel count.
MAX_SIDE = 1600

# French medicines: the GTIN-14 is "0" + the 13-digit CIP code, which starts with 3400 (GS1 France prefix for
# medicines). Source: CIP-ACL, « Le code CIP13 et le DataMatrix » (docs/clinical/medicine-photos.md).
CIP_GTIN_PREFIX = "03400"


@dataclass(frozen=True)
class BoxCode:
    """One decoded GS1 DataMatrix."""

    gtin: str
    cip13: str | None
    expiry: date | None
    lot: str | None


@dataclass(frozen=True)
class DecodeResult:
    """What a photo gave: every distinct GS1 code with a GTIN, and whether any symbol was seen at all."""

    codes: tuple[BoxCode, ...]
    symbols_seen: int

    @property
    def single(self) -> BoxCode | None:
        """The code when exactly one distinct GTIN was found (several boxes in one photo are ambiguous)."""
        gtins = {c.gtin for c in self.codes}
        return self.codes[0] if len(gtins) == 1 else None


def cip13_from_gtin(gtin: str) -> str | None:
    """The CIP13 held in a GTIN-14 `03400…`; None for any other GTIN (not a French medicine)."""
    if len(gtin) == 14 and gtin.isdigit() and gtin.startswith(CIP_GTIN_PREFIX):
        return gtin[1:]
    return None


def parse_gs1(text: str, *, hri: bool) -> BoxCode | None:
    """A GS1 element string (HRI "(01)…(17)…" or raw with its `]d2` symbology identifier) → BoxCode, or None."""
    try:
        message = GS1Message.parse_hri(text) if hri else biip.parse(text).gs1_message
    except biip.ParseError:
        return None
    if message is None:
        return None
    gtin_es = message.element_strings.get(ai="01")
    if gtin_es is None or gtin_es.gtin is None:
        return None
    gtin = gtin_es.value
    expiry_es = message.element_strings.get(ai="17")
    lot_es = message.element_strings.get(ai="10")
    return BoxCode(
        gtin=gtin,
        cip13=cip13_from_gtin(gtin),
        expiry=expiry_es.date if expiry_es is not None else None,
        lot=lot_es.value if lot_es is not None else None,
    )


_DATAMATRIX = zxingcpp.BarcodeFormats(zxingcpp.BarcodeFormat.DataMatrix)


def _read(image: Image.Image) -> list[zxingcpp.Barcode]:
    return list(zxingcpp.read_barcodes(image, formats=_DATAMATRIX))


def _candidates(image: Image.Image) -> list[Image.Image]:
    """The image as sent, then a grey contrast-stretched copy, then a half-size copy (blur and noise shrink)."""
    grey = ImageOps.autocontrast(ImageOps.grayscale(image), cutoff=1)
    half = grey.resize((max(1, grey.width // 2), max(1, grey.height // 2)), Image.Resampling.BOX)
    return [image, grey, half]


def decode_image(image: Image.Image) -> DecodeResult:
    """Decode every GS1 DataMatrix in a PIL image (pure: no I/O)."""
    image = ImageOps.exif_transpose(image) or image
    if image.mode not in ("L", "RGB"):
        image = image.convert("RGB")
    if max(image.size) > MAX_SIDE:
        image = image.copy()
        image.thumbnail((MAX_SIDE, MAX_SIDE), Image.Resampling.BOX)
    seen = 0
    for candidate in _candidates(image):
        barcodes = _read(candidate)
        seen = max(seen, len(barcodes))
        codes: dict[str, BoxCode] = {}
        for barcode in barcodes:
            hri = barcode.content_type == zxingcpp.ContentType.GS1
            code = parse_gs1(barcode.text, hri=True) if hri else parse_gs1(barcode.text, hri=False)
            if code is not None:
                codes.setdefault(code.gtin, code)
        if codes:
            return DecodeResult(codes=tuple(codes.values()), symbols_seen=len(barcodes))
    return DecodeResult(codes=(), symbols_seen=seen)


def decode_box_photo(data: bytes) -> DecodeResult:
    """Decode the photo bytes a patient sent (JPEG/PNG/WebP). An unreadable file decodes to nothing."""
    try:
        with Image.open(io.BytesIO(data)) as image:
            image.load()
            return decode_image(image)
    except (OSError, ValueError, Image.DecompressionBombError):
        return DecodeResult(codes=(), symbols_seen=0)


def make_datamatrix(hri: str, *, scale: int = 6) -> Image.Image:
    """A GS1 DataMatrix of an HRI element string, as a greyscale PIL image with its quiet zone.

    Used by the benchmark, the tests and the sandbox's sample boxes (made-up codes only).
    """
    import numpy as np  # a matplotlib dependency; wraps zxing-cpp's image (buffer protocol) for Pillow

    barcode = zxingcpp.create_barcode(hri, zxingcpp.BarcodeFormat.DataMatrix, gs1=True)
    return Image.fromarray(np.asarray(barcode.to_image(scale=scale)))
