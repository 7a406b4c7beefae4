"""Issue 37, decode layer: DataMatrix photo → GS1 fields → CIP13 (bot/medicines/datamatrix.py)."""

from __future__ import annotations

import io
import random
from datetime import date

from PIL import Image

from bot.medicines.datamatrix import cip13_from_gtin, decode_box_photo, make_datamatrix, parse_gs1
from bot.medicines.synthetic import KINDS, box_photo, ean_check_digit, made_up_cip13, make_photo


def _png(image: Image.Image) -> bytes:
    buf = io.BytesIO()
    image.save(buf, "PNG")
    return buf.getvalue()


def test_gtin_to_cip13_only_for_french_medicines() -> None:
    assert cip13_from_gtin("03400930000120") == "3400930000120"
    assert cip13_from_gtin("05012345678900") is None  # a GTIN from elsewhere
    assert cip13_from_gtin("3400930000120") is None  # 13 digits: not a GTIN-14


def test_check_digit_matches_gs1() -> None:
    assert ean_check_digit("340093000012") == "0"  # biip accepts 03400930000120 (see below)
    assert ean_check_digit("400638133393") == "1"  # GS1's worked example 4006381333931


def test_parse_reads_expiry_and_lot_and_rejects_a_bad_check_digit() -> None:
    code = parse_gs1("(01)03400930000120(17)271231(10)AB12", hri=True)
    assert code is not None
    assert (code.cip13, code.expiry, code.lot) == ("3400930000120", date(2027, 12, 31), "AB12")
    assert parse_gs1("(01)03400930000121(17)271231", hri=True) is None
    # Raw form with the symbology identifier and the FNC1 separator after the variable-length lot.
    raw = parse_gs1("]d20103400930000120" + "10AB12\x1d17271231", hri=False)
    assert raw is not None and raw.lot == "AB12" and raw.expiry == date(2027, 12, 31)


def test_decode_a_box_photo_and_reject_non_images() -> None:
    cip = made_up_cip13(random.Random(1))
    result = decode_box_photo(box_photo(cip))
    assert result.single is not None and result.single.cip13 == cip
    assert decode_box_photo(b"not an image").codes == ()
    blank = Image.new("RGB", (400, 300), (255, 255, 255))
    assert decode_box_photo(_png(blank)).codes == ()


def test_two_boxes_in_one_photo_are_ambiguous() -> None:
    a = make_datamatrix("(01)03400930000120(17)271231(10)A1").convert("RGB")
    b = make_datamatrix(f"(01)0{made_up_cip13(random.Random(2))}(17)271231(10)B2").convert("RGB")
    photo = Image.new("RGB", (a.width + b.width + 60, max(a.height, b.height) + 40), (255, 255, 255))
    photo.paste(a, (10, 10))
    photo.paste(b, (a.width + 50, 10))
    result = decode_box_photo(_png(photo))
    assert len(result.codes) == 2 and result.single is None


def test_generated_photos_mostly_decode() -> None:
    """A small slice of the benchmark (benchmarks/medicine_photos.py has the full figures)."""
    rng = random.Random(7)
    photos = [make_photo(kind, rng) for kind in KINDS for _ in range(3)]
    ok = sum(1 for p in photos if (r := decode_box_photo(p.jpeg).single) is not None and r.cip13 == p.cip13)
    assert ok >= len(photos) - 2
