"""The sandbox page in a real headless Chromium (Playwright): enrol, answer by clicking, see and acknowledge an alert.

Needs `/usr/bin/chromium` (Debian package `chromium`); skipped, saying so, where it is absent. Set
`UPDATE_SANDBOX_SCREENSHOT=1` to refresh `docs/sandbox.png` from this run.
"""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import AsyncIterator
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from playwright.async_api import Browser, Page, async_playwright, expect
from playwright.async_api import TimeoutError as PlaywrightTimeoutError

from bot.config import load_settings
from bot.sandbox.server import Sandbox

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--headless",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
SCREENSHOT = Path(__file__).resolve().parents[2] / "docs" / "sandbox.png"
START = datetime(2027, 3, 1, 9, 0, tzinfo=ZoneInfo("Europe/Paris"))

pytestmark = pytest.mark.skipif(
    not CHROMIUM.exists(), reason="headless Chromium is not installed (/usr/bin/chromium: apt-get install chromium)"
)


@pytest.fixture
async def sandbox(tmp_path: Path) -> AsyncIterator[Sandbox]:
    settings = load_settings(TELEGRAM_BOT_TOKEN="", BOT_DATABASE=str(tmp_path / "ignored.sqlite3"))
    running = await Sandbox(settings, port=0, data_dir=tmp_path, start=START).start()
    try:
        yield running
    finally:
        await running.stop()


@pytest.fixture
async def browser() -> AsyncIterator[Browser]:
    async with async_playwright() as playwright:
        chromium = await playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            yield chromium
        finally:
            await chromium.close()


SCREEN_YES = "Oui, au moins un de ces signes"


async def answer_until_the_weakness_question(page: Page) -> None:
    """Click like a patient: a middling score on scales, "Non" to yes/no, until the new-weakness red flag."""
    phone = page.locator("#phone-messages")
    for number in range(1, 20):
        question = phone.locator(".message", has_text=re.compile(rf"Question {number}(?!\d)")).last
        await expect(question.locator(".keyboard button").first).to_be_visible()
        labels = await question.locator(".keyboard button").all_inner_texts()
        if SCREEN_YES in labels:  # issue 35: one screen for the red flags, each sign asked on "Oui"
            await question.get_by_role("button", name=SCREEN_YES, exact=True).click()
            await expect(question).to_contain_text("Votre réponse")
            continue
        if "faiblesse" in (await question.inner_text()):
            return
        await question.get_by_role("button", name="Non" if "Non" in labels else "4", exact=True).click()
        # answered: the question loses its keyboard and shows the answer
        await expect(question).to_contain_text("Votre réponse")
    raise AssertionError("the red-flag question never came")


async def test_enrol_answer_by_clicking_then_acknowledge_the_red_flag_alert(
    sandbox: Sandbox, browser: Browser, tmp_path: Path
) -> None:
    page = await browser.new_page(viewport={"width": 1440, "height": 900})
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    await page.goto(sandbox.url)
    await expect(page.locator("#clock")).to_have_text("lundi 1 mars 2027, 09:00")

    await page.fill("#study-id", "P-WEB")
    await page.fill("#rt-start", "2027-03-03")
    await page.click("#enroll-button")
    group = page.locator("#group-messages")
    await expect(group).to_contain_text("/enroll P-WEB 2027-03-03 arm=standard site=main fractions=1")
    await expect(group).to_contain_text("Patient P-WEB inclus")
    await page.locator("#enroll-result").get_by_role("button", name="Rejoindre en tant que ce patient").click()

    phone = page.locator("#phone-messages")
    await phone.get_by_role("button", name="J'ai lu et compris").click()
    await phone.get_by_role("button", name="Le matin (vers 10 h)").click()
    await expect(page.locator("#patients")).to_contain_text("suivi actif")
    await expect(page.locator("#study-day")).to_have_text("P-WEB : jour -2")

    await answer_until_the_weakness_question(page)
    await phone.locator(".message").last.get_by_role("button", name="Oui", exact=True).click()
    await expect(phone).to_contain_text("15 (SAMU)")

    alert = group.locator(".message", has_text="ALERTE URGENTE")
    await expect(alert).to_contain_text("P-WEB", timeout=10_000)  # delivered by the periodic tick job
    await alert.get_by_role("button", name="Pris en charge").click()
    await expect(alert).to_contain_text("Pris en charge par Dr Martin")
    # The closed loop (issue 15): the buttons now ask what was done.
    await expect(alert.get_by_role("button", name="Pris en charge")).to_have_count(0)
    await expect(alert.get_by_role("button", name="Patient appelé")).to_be_visible()
    await expect(page.locator(".toast", has_text="Enregistré : pris en charge.")).to_be_visible()

    shot = tmp_path / "sandbox.png"
    await page.screenshot(path=str(shot))
    assert shot.read_bytes().startswith(b"\x89PNG")
    if os.environ.get("UPDATE_SANDBOX_SCREENSHOT") == "1":
        SCREENSHOT.parent.mkdir(exist_ok=True)
        shutil.copyfile(shot, SCREENSHOT)

    await page.click("button[data-action='day']")
    await expect(page.locator("#clock")).to_have_text("mardi 2 mars 2027, 09:00")
    await expect(phone).to_contain_text("Rappel : un questionnaire attend vos réponses.")
    await expect(page.locator("#study-day")).to_have_text("P-WEB : jour -1")
    assert errors == []


async def test_the_form_follows_the_virtual_clock_and_a_typed_enroll_can_be_joined(
    sandbox: Sandbox, browser: Browser
) -> None:
    """Issue 39, items 1-4: defaults from the virtual clock (not the browser's today), site and arm fields, an
    invitation made with /enroll typed in the group listed and joinable, the study id in the phone's header."""
    page = await browser.new_page(viewport={"width": 1440, "height": 900})
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    await page.goto(sandbox.url)
    await expect(page.locator("#rt-start")).to_have_value("2027-03-03")  # virtual 1 March + 2 days
    await expect(page.locator("#site")).to_have_value("main")
    await expect(page.locator("#arm")).to_have_value("standard")
    await expect(page.locator("#arm option")).to_have_text(["standard", "experimental"])
    await page.click("button[data-action='day']")
    await expect(page.locator("#rt-start")).to_have_value("2027-03-04")  # untouched: follows the clock

    await page.fill("#study-id", "P-ARM")
    await page.select_option("#site", "LYON")
    await page.select_option("#arm", "experimental")
    await page.click("#enroll-button")
    group = page.locator("#group-messages")
    await expect(group).to_contain_text("/enroll P-ARM 2027-03-04 arm=experimental site=LYON fractions=1")
    await expect(group).to_contain_text("Radiothérapie, Lyon (exemple), bras expérimental")

    await page.fill("#group-input", "/enroll P-GRP 2027-03-05")
    await page.press("#group-input", "Enter")
    invitation = page.locator("#invitations li", has_text="P-GRP")
    await expect(invitation).to_contain_text("main · standard")
    await invitation.get_by_role("button", name="Rejoindre en tant que ce patient").click()
    await expect(page.locator("#phone-subtitle")).to_have_text("téléphone de P-GRP")
    await expect(page.locator("#invitations li", has_text="P-GRP")).to_have_count(0)
    await expect(page.locator("#invitations li", has_text="P-ARM")).to_have_count(1)
    assert errors == []


@pytest.mark.parametrize(("width", "height"), [(360, 740), (1024, 768), (1440, 900)])
async def test_every_panel_is_usable_from_a_phone_to_a_wide_screen(
    sandbox: Sandbox, browser: Browser, width: int, height: int
) -> None:
    """Issue #20: below 1100 px the enrol form, invitations and patients got 0 px of height."""
    page = await browser.new_page(viewport={"width": width, "height": height})
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    await page.goto(sandbox.url)
    await expect(page.locator("#clock")).to_have_text("lundi 1 mars 2027, 09:00")
    for selector in ("#enroll-form", "#invitations", "#patients", "#phone-messages", "#group-messages"):
        await page.locator(selector).scroll_into_view_if_needed()
        box = await page.locator(selector).bounding_box()
        assert box is not None and box["height"] >= 20 and box["width"] >= 200, (selector, box)
        # Really on screen, not clipped by a squeezed panel: the point at its centre belongs to it.
        hit = await page.evaluate(
            "([s, x, y]) => document.querySelector(s).contains(document.elementFromPoint(x, y))",
            [selector, box["x"] + box["width"] / 2, box["y"] + min(box["height"], 100) / 2],
        )
        assert hit, f"{selector} is hidden at {width} px"
    for selector in ("#phone-messages", "#group-messages"):
        box = await page.locator(selector).bounding_box()
        assert box is not None and box["height"] >= 250, (selector, box)
    overflow = await page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
    assert overflow <= 0, f"{overflow} px of horizontal scrolling at {width} px"

    await page.fill("#study-id", f"P-{width}")
    await page.fill("#rt-start", "2027-03-03")
    await page.click("#enroll-button")
    await page.locator("#enroll-result").get_by_role("button", name="Rejoindre en tant que ce patient").click()
    phone = page.locator("#phone-messages")
    await phone.get_by_role("button", name="J'ai lu et compris").click()
    await phone.get_by_role("button", name="Le matin (vers 10 h)").click()
    await expect(page.locator("#patients")).to_contain_text("suivi actif")
    first = phone.locator(".message", has_text=re.compile(r"Question 1(?!\d)")).last
    await expect(first.locator(".keyboard button").first).to_be_visible()
    await first.locator(".keyboard button").first.scroll_into_view_if_needed()
    # A toast must never sit on the buttons the patient answers with.
    await page.evaluate("toast('Un message de test')")
    toast_box = await page.locator(".toast").last.bounding_box()
    keys = await first.locator(".keyboard").bounding_box()
    assert toast_box is not None and keys is not None
    assert toast_box["y"] + toast_box["height"] <= keys["y"] or toast_box["y"] >= keys["y"] + keys["height"]
    await first.locator(".keyboard button").first.click()
    await expect(first).to_contain_text("Votre réponse")
    assert errors == []


async def test_the_group_follows_a_plot_once_it_loads_and_shows_it_whole(sandbox: Sandbox, browser: Browser) -> None:
    """Issue #20: the group did not stay at the bottom when a plot loaded, and the plot was cut."""
    page = await browser.new_page(viewport={"width": 1024, "height": 768})
    await page.goto(sandbox.url)
    group = page.locator("#group-messages")
    for number in range(1, 4):  # enough messages for the group to scroll
        await page.fill("#group-input", f"/enroll P-PLOT{number} 2027-03-03")
        await page.press("#group-input", "Enter")
        await expect(group).to_contain_text(f"Patient P-PLOT{number} inclus")
    await page.fill("#group-input", "/patient P-PLOT1")
    await page.press("#group-input", "Enter")
    image = group.locator(".bubble img").last
    await expect(image).to_be_visible(timeout=15_000)
    await page.wait_for_function("(img) => img.complete && img.naturalWidth > 0", arg=await image.element_handle())
    # The load handler and the next layout: polled for up to 3 s, not a fixed 300 ms (a full-suite run once measured
    # the gap before the layout had caught up); a group that never follows the plot still fails.
    gap_js = "(c) => c.scrollHeight - c.scrollTop - c.clientHeight"
    try:
        await page.wait_for_function(f"(c) => ({gap_js})(c) <= 2", arg=await group.element_handle(), timeout=3_000)
    except PlaywrightTimeoutError:
        pass  # measured and reported below
    gap = await group.evaluate(gap_js)
    assert gap <= 2, f"the group is {gap} px above its last message after the plot loaded"
    box = await image.bounding_box()
    bubble = await image.locator("xpath=..").bounding_box()
    assert box is not None and bubble is not None
    assert box["x"] >= bubble["x"] and box["x"] + box["width"] <= bubble["x"] + bubble["width"] + 0.5
    natural = await image.evaluate("(img) => img.naturalWidth / img.naturalHeight")
    assert abs(box["width"] / box["height"] - natural) < 0.02  # scaled, not cropped
