"""The sandbox page in headless Chromium: the customer answers, the manager sees it in Slack.

Everything the page does goes through the real `churnbot sandbox` process: its page pushes
updates to the Telegram stand-in, the real bot answers, the real alert reaches the Slack
stand-in, and the page shows both.
"""

from __future__ import annotations

import re
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.auxil.environment import running_in_ci
from tests.auxil.sandbox_process import clean_env, running

pytestmark = pytest.mark.e2e

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
WAIT_MS = 15_000


def _chromium() -> str:
    found = CHROMIUM if Path(CHROMIUM).exists() else shutil.which("chromium")
    if found is None:
        if running_in_ci():
            pytest.fail("CI=true but Chromium is not installed: .ci/run must install it")
        pytest.skip("Chromium is not installed (apt-get install chromium); CI runs this test")
    return found


@pytest.fixture
def sandbox_url(tmp_path: Path) -> Iterator[str]:
    env = clean_env(f"sqlite:///{tmp_path / 'sandbox.db'}")
    with running(["sandbox"], cwd=tmp_path, env=env) as (url, _):
        yield url


@pytest.fixture
def page(sandbox_url: str) -> Iterator[Any]:
    executable = _chromium()
    sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed")
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 900})
            page.set_default_timeout(WAIT_MS)
            page.goto(sandbox_url)
            yield page
        finally:
            browser.close()


def test_customer_answers_an_exit_survey_by_clicking_and_the_manager_sees_the_alert(
    page: Any,
) -> None:
    from playwright.sync_api import expect

    page.fill("#customer-id", "cust-browser-1")
    page.select_option("#language", "en")
    page.click("#get-link")
    expect(page.locator("#link-url")).to_contain_text("start=")
    page.click("#open-link")
    expect(page.locator(".msg.bot").first).to_contain_text("linked")

    page.click("#fire-cancel")
    expect(page.locator("#status")).to_contain_text("HTTP 202")
    question = page.locator(".msg.bot").nth(1)
    expect(question).to_contain_text("main reason you're leaving")
    page.locator(".tg-button", has_text="Something else").click()
    expect(question).to_contain_text("✓ Something else")

    page.fill("#chat-text", "Honestly the price went up twice this year and our budget is tiny.")
    page.click("#chat-send")
    expect(page.locator(".msg.me").last).to_contain_text("budget is tiny")
    expect(page.locator(".msg.bot").last).to_contain_text("Thank you for telling us")

    # The free text was classified (the customer chose "Something else") and alerted.
    alert = page.locator(".sl-msg", has_text="Exit survey completed")
    expect(alert).to_contain_text("cust-browser-1")
    expect(alert).to_contain_text("Reason: Price")
    expect(alert).to_contain_text("#churn-alerts")
    expect(alert.locator("select")).to_have_value("price")

    page.fill("#command-text", "/churn customer cust-browser-1")
    page.click("#command-send")
    answer = page.locator(".sl-msg.kind-response").last
    expect(answer).to_contain_text("Only visible to you")
    expect(answer).to_contain_text("cust-browser-1")


def test_persian_bubbles_read_right_to_left_with_their_time_left_to_right(page: Any) -> None:
    from playwright.sync_api import expect

    page.fill("#customer-id", "cust-browser-fa")
    page.select_option("#language", "fa")
    page.click("#get-link")
    expect(page.locator("#link-url")).to_contain_text("start=")
    page.click("#open-link")
    expect(page.locator(".msg.bot").first).to_be_visible()

    page.fill("#chat-text", "قیمت برای تیم ما خیلی بالا رفته است")
    page.click("#chat-send")
    mine = page.locator(".msg.me").last
    expect(mine).to_contain_text("قیمت")
    assert mine.evaluate("e => getComputedStyle(e).direction") == "rtl"
    assert mine.locator(".text").evaluate("e => getComputedStyle(e).direction") == "rtl"
    # The /start line the page sent is Latin: it stays left to right.
    start_line = page.locator(".msg.me").first
    assert start_line.evaluate("e => getComputedStyle(e).direction") == "ltr"
    meta = mine.locator(".meta")
    assert meta.evaluate("e => getComputedStyle(e).direction") == "ltr"
    expect(meta).to_have_text(re.compile(r"^\d{2}:\d{2}$"))
    welcome = page.locator(".msg.bot").first
    assert welcome.evaluate("e => getComputedStyle(e).direction") == "rtl"


def test_emoji_the_page_shows_are_drawn_in_colour_not_as_boxes(page: Any) -> None:
    """Drawn with the page's own font stack: a missing emoji font gives a monochrome box."""
    coloured = page.evaluate(
        """(emoji) => emoji.map((text) => {
            const canvas = document.createElement("canvas");
            canvas.width = canvas.height = 64;
            const context = canvas.getContext("2d");
            context.font = `40px ${getComputedStyle(document.body).fontFamily}`;
            context.textBaseline = "top";
            context.fillStyle = "#000";
            context.fillText(text, 4, 4);
            const pixels = context.getImageData(0, 0, 64, 64).data;
            for (let i = 0; i < pixels.length; i += 4) {
                const [r, g, b, a] = [pixels[i], pixels[i + 1], pixels[i + 2], pixels[i + 3]];
                if (a > 0 && (Math.abs(r - g) > 40 || Math.abs(g - b) > 40)) return true;
            }
            return false;
        })""",
        ["👋", "⚠️", "✅", "❌"],
    )
    assert coloured == [True, True, True, True], (
        "emoji drawn without colour: install an emoji font (fonts-noto-color-emoji)"
    )


def test_the_page_lets_you_try_the_telegram_admin_commands(page: Any) -> None:
    from playwright.sync_api import expect

    hint = page.locator("#admin-hint")
    expect(hint).to_contain_text("TELEGRAM_ADMIN_IDS")
    expect(hint).to_contain_text("/stats")
    expect(hint).to_contain_text("/reasons")

    page.fill("#customer-id", "cust-browser-admin")
    page.select_option("#language", "en")
    page.click("#get-link")
    expect(page.locator("#link-url")).to_contain_text("start=")

    # From the customer's own account /stats is not theirs: they get the help text.
    page.fill("#chat-text", "/stats")
    page.click("#chat-send")
    expect(page.locator(".msg.bot")).to_have_count(1)
    help_text = page.locator(".msg.bot").last.locator(".text").inner_text()

    page.locator(".admin-command", has_text="/stats").click()
    expect(page.locator(".msg.me.admin")).to_have_count(1)
    expect(page.locator(".msg.bot")).to_have_count(2)
    answer = page.locator(".msg.bot").last.locator(".text").inner_text()
    assert answer != help_text
    assert "churn" in answer.lower()

    page.locator(".admin-command", has_text="/reasons").click()
    expect(page.locator(".msg.bot")).to_have_count(3)
    assert page.locator(".msg.bot").last.locator(".text").inner_text() != help_text
