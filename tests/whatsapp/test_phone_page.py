"""The simulator's phone page in a real browser: chat as an investor, tap a list row, see ticks."""

from __future__ import annotations

import shutil

from tests.whatsapp.conftest import ChannelServer, Sim

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"]


async def test_chat_buttons_and_ticks(embedded: ChannelServer, sim: Sim) -> None:
    from playwright.async_api import async_playwright, expect

    assert shutil.which("chromium"), "needs Debian's chromium: run scripts/ensure_chromium.sh (make test does)"

    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            page = await browser.new_page()
            await page.goto(sim.base + "/")
            await page.fill("#number", "919811122233")
            await page.dispatch_event("#number", "change")
            await page.fill("#text", "hello")
            await page.press("#text", "Enter")
            await expect(page.locator(".msg.out").first).to_contain_text("echo: hello", timeout=10_000)
            # the investor's own message gets ticks once the webhook was accepted
            await expect(page.locator(".msg.in .tick").first).to_have_attribute("title", "sent", timeout=10_000)
            await page.fill("#text", "buttons")
            await page.press("#text", "Enter")
            await page.locator(".msg.out .btns > button").first.click(timeout=10_000)  # opens the list
            await page.get_by_role("button", name="Option 3").click()
            await expect(page.locator(".msg.out").last).to_contain_text('echo: /choose{"n":3}', timeout=10_000)
            # the page marks what it shows as read: blue ticks reach the bot's messages
            await expect(page.locator(".msg.out .tick.read").first).to_be_visible(timeout=10_000)
        finally:
            await browser.close()
