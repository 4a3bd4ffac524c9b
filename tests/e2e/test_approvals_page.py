"""The approvals page in a real headless Chromium (Debian's, driven by Playwright; nothing downloads a browser).

The first test takes the README's screenshot of the page; it replaces `docs/approvals.png` only when
`ROLLGATE_UPDATE_SCREENSHOT=1` is set, so that a test run leaves the tracked files alone.
"""

from __future__ import annotations

import os
import shutil
import sqlite3
from pathlib import Path

import anyio
import pytest

from tests.conftest import APPROVER_TOKEN, DEFAULT_POLICIES, ROOT, TOKEN
from tests.e2e.helpers import decision_of, http_client
from tests.e2e.test_approvals import demo, funded_accounts, transfers

pytestmark = [pytest.mark.anyio, pytest.mark.e2e]
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
SCREENSHOT = ROOT / "docs" / "approvals.png"


@pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="Debian's chromium is not installed (make browser)")
async def test_the_page_lists_the_pending_call_shows_its_context_and_approving_runs_it(
    start_gateway, tmp_path: Path
) -> None:
    from playwright.async_api import async_playwright

    db = tmp_path / "demo.db"
    gateway = start_gateway(demo(db), policies=DEFAULT_POLICIES)
    async with http_client(gateway.url, TOKEN) as client:
        source, target = await funded_accounts(client)
        held = await client.call_tool(
            "demo__transfer",
            {"from_account_id": source, "to_account_id": target, "amount_cents": 4_200},
            meta={"rollgate/workflow": "wf-invoices", "rollgate/step": "3"},
        )
    ticket = decision_of(held)["approval_id"]
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(
            executable_path=CHROMIUM,
            args=[
                "--no-sandbox",
                "--disable-gpu",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--no-first-run",
            ],
        )
        page = await browser.new_page(viewport={"width": 1280, "height": 900})
        await page.goto(f"{gateway.base}/approvals")
        await page.fill("#token", APPROVER_TOKEN)
        await page.click("#login button")
        item = page.locator(f'#pending li[data-id="{ticket}"]')
        await item.wait_for(timeout=10_000)
        assert "demo/transfer" in await item.inner_text() and "agent-one" in await item.inner_text()
        await item.click()
        await page.wait_for_function("document.getElementById('d-agent').textContent === 'agent-one'")
        assert await page.inner_text("#d-workflow") == "wf-invoices (step 3)"
        assert await page.inner_text("#d-rev") == "compensable" and await page.inner_text("#d-impact") == "high"
        assert '"amount_cents": 4200' in await page.inner_text("#d-args")
        assert "refund" in await page.inner_text("#d-comp")
        assert "moves money between accounts" in await page.inner_text("#d-effects")
        assert "compensable tool with high impact" in await page.inner_text("#d-reasons")
        await page.fill("#comment", "invoice 2026-118 checked")
        shot = SCREENSHOT if os.environ.get("ROLLGATE_UPDATE_SCREENSHOT") == "1" else tmp_path / SCREENSHOT.name
        await page.screenshot(path=str(shot), full_page=True)
        assert shot.stat().st_size > 10_000  # a rendered page, not an empty image
        await page.click("#approve")
        await page.wait_for_function("document.getElementById('d-message').textContent.startsWith('Approved')")
        await browser.close()
    with anyio.fail_after(20):
        while not transfers(db):
            await anyio.sleep(0.2)
    assert transfers(db) == [(source, target, 4_200, "completed")]


@pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="Debian's chromium is not installed (make browser)")
async def test_the_page_rolls_a_workflow_back(start_gateway, tmp_path: Path) -> None:
    from playwright.async_api import async_playwright

    db = tmp_path / "demo.db"
    gateway = start_gateway(demo(db), policies=DEFAULT_POLICIES)
    async with http_client(gateway.url, TOKEN) as client:
        workflow = (await client.call_tool("rollgate_begin_workflow", {})).structured_content["workflow_id"]
        await client.call_tool(
            "demo__create_customer", {"name": "Ada", "email": "a@x.io"}, meta={"rollgate/workflow": workflow}
        )
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu"])
        page = await browser.new_page()
        page.on("dialog", lambda dialog: dialog.accept())
        await page.goto(f"{gateway.base}/approvals")
        await page.fill("#token", APPROVER_TOKEN)
        await page.click("#login button")
        await page.fill("#workflow-id", workflow)
        await page.click("#workflow-form button")
        await page.wait_for_function("document.getElementById('w-steps').textContent.includes('demo/create_customer')")
        await page.click("#w-rollback")
        await page.wait_for_function("document.getElementById('w-status').textContent.includes('rolled_back')")
        await browser.close()
    with sqlite3.connect(db) as conn:
        assert conn.execute("SELECT COUNT(*) FROM customers").fetchone()[0] == 0


@pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="Debian's chromium is not installed (make browser)")
async def test_the_page_never_shows_a_planted_secret(start_gateway, tmp_path: Path) -> None:
    from playwright.async_api import async_playwright

    planted = ["pw-Planted-Page-01", "sk-Planted-Page-02"]
    gateway = start_gateway(demo(tmp_path / "demo.db"), policies=DEFAULT_POLICIES, approvals="wait_seconds = 0")
    async with http_client(gateway.url, TOKEN) as client:
        await client.call_tool("demo__update_record", {"key": "k", "value": {"password": planted[0]}})
        held = await client.call_tool(
            "demo__send_email", {"to": "a@x.org", "subject": "s", "body": "b", "auth": {"api_key": planted[1]}}
        )
    ticket = decision_of(held)["approval_id"]
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(
            executable_path=CHROMIUM,
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--no-first-run"],
        )
        page = await browser.new_page()
        await page.goto(f"{gateway.base}/approvals")
        await page.fill("#token", APPROVER_TOKEN)
        await page.click("#login button")
        item = page.locator(f'#pending li[data-id="{ticket}"]')
        await item.wait_for(timeout=10_000)
        await item.click()
        await page.wait_for_function("document.getElementById('d-agent').textContent === 'agent-one'")
        text = await page.evaluate("document.body.innerText")
        await browser.close()
    assert "masked" in text and all(secret not in text for secret in planted)
