"""End to end: the demo served by `python demo/app.py` with the real Qwen pair, driven in headless Chromium.

Loads the real default target/draft pair (about 8.5 GB of RAM), so run it on its own:
    flock /tmp/specdec-qwen.lock python -m pytest tests/test_demo_browser.py
A failing run saves a screenshot into pytest's tmp_path and prints its path.
"""

import re

import pytest

from demo import screenshots
from demo.screenshots import CHROMIUM, choose_preset, free_port, run_race, set_number, start_app, wait_for_server, wait_until_ready

pytestmark = [pytest.mark.slow, pytest.mark.browser]

PRESET = "Code completion"
K = 5
MAX_NEW_TOKENS = 24


def test_race_code_preset_in_chromium(tmp_path):
    from playwright.sync_api import sync_playwright

    port = free_port()
    server = start_app(port, tmp_path / "app.log")
    url = f"http://127.0.0.1:{port}/"
    try:
        wait_for_server(url, server, timeout=300)
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True)
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            try:
                page.goto(url)
                status = wait_until_ready(page, timeout=900)
                choose_preset(page, PRESET)
                set_number(page, "sd-k", K)
                set_number(page, "sd-max-new-tokens", MAX_NEW_TOKENS)
                speedup = run_race(page, timeout=900)
                accepted = page.locator("#sd-spec .sd-accepted").count()
                spec_text = page.locator("#sd-spec").inner_text()
                plain_text = page.locator("#sd-plain").inner_text()
                history = page.locator("#sd-history").inner_text()
            except Exception:
                shot = tmp_path / "failure.png"
                page.screenshot(path=shot, full_page=True)
                print(f"screenshot of the failing page: {shot}; server log: {tmp_path / 'app.log'}")
                raise
            finally:
                browser.close()
    finally:
        server.terminate()
        server.wait(60)

    assert "Models ready" in status, status
    assert screenshots.FINAL_SPEEDUP.match(speedup), f"speed-up shown as {speedup!r}"
    assert accepted > 0, f"no accepted draft token coloured in the speculative panel: {spec_text!r}"
    # Greedy decoding: the speculative output must equal the plain one token for token.
    assert spec_text.strip() == plain_text.strip(), f"speculative {spec_text!r} != plain {plain_text!r}"
    assert re.search(rf"\bmodel\s+{K}\b", history), f"the run is missing from the session table: {history!r}"
