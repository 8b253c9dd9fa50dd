"""Drive the running demo in headless Chromium: the browser test's steps, and the README's screenshots.

    flock /tmp/specdec-qwen.lock python demo/screenshots.py --out docs/screenshots

`main` starts `python demo/app.py` on a free port with the default model pair, waits until the page reports
the models ready, runs every tab once with small token counts and saves one screenshot per tab. It
prints the time from start to ready and the speed-ups the page showed. The helpers (`start_app`,
`wait_until_ready`, `choose_preset`, `run_race` ...) are what `tests/test_demo_browser.py` uses.

Left out: other browsers; the tests use Debian's /usr/bin/chromium through playwright.
"""

from __future__ import annotations

import argparse
import os
import re
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM = "/usr/bin/chromium"
FINAL_SPEEDUP = re.compile(r"^\d+\.\d+x$")  # a finished race; a running one adds "(so far)"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_app(port: int, log_path: Path, env: dict | None = None) -> subprocess.Popen:
    """Start `python demo/app.py` on 127.0.0.1:port, its output going to log_path."""
    env = {**os.environ, **(env or {}), "GRADIO_SERVER_PORT": str(port), "GRADIO_ANALYTICS_ENABLED": "False"}
    env.pop("GRADIO_SERVER_NAME", None)
    log = open(log_path, "w")
    return subprocess.Popen([sys.executable, "demo/app.py"], cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)


def wait_for_server(url: str, server: subprocess.Popen, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise RuntimeError(f"the app exited with status {server.returncode} before serving {url}")
        try:
            urllib.request.urlopen(url, timeout=5).close()
            return
        except OSError:
            time.sleep(1)
    raise TimeoutError(f"no page at {url} after {timeout:.0f} s")


def wait_until_ready(page, timeout: float) -> str:
    """Wait until the status line reports the models ready; return that line."""
    page.wait_for_selector("#sd-status .sd-ready, #sd-status .sd-failed", timeout=timeout * 1000)
    status = page.locator("#sd-status").inner_text()
    if page.locator("#sd-status .sd-failed").count():
        raise RuntimeError(f"the models failed to load: {status}")
    return status


def choose_preset(page, title: str) -> None:
    """Pick a preset by its title and wait until its prompt is in the prompt box."""
    from specdec_mini import domains

    prompt = next(prompt.prompt for prompt in domains.SUITE if prompt.title == title)
    page.get_by_label("Preset prompt").click()
    page.get_by_role("option", name=title).click()
    page.wait_for_function("start => document.querySelector('#sd-prompt textarea').value.startsWith(start)",
                           arg=prompt[:40])


def set_number(page, elem_id: str, value: float) -> None:
    """Type a value into the number box of a slider (or a number field) and commit it."""
    box = page.locator(f"#{elem_id} input[type=number]")
    box.fill(str(value))
    box.press("Enter")


def run_race(page, timeout: float) -> str:
    """Press Run live, wait for both runs to finish, and return the speed-up the page shows."""
    # A finished live race numbers itself in the note above the panels, so the note changes on every run.
    before = page.locator("#sd-note").inner_text()
    page.click("#sd-run")
    page.wait_for_function(
        """([before, pattern]) => {
            const note = document.querySelector('#sd-note').innerText;
            const speedup = document.querySelector('#sd-stats .sd-speedup');
            return note !== before && note.includes('of your session') && speedup
                && new RegExp(pattern).test(speedup.innerText.trim());
        }""",
        arg=[before, FINAL_SPEEDUP.pattern], timeout=timeout * 1000,
    )
    return page.locator("#sd-stats .sd-speedup").inner_text().strip()


def open_tab(page, name: str) -> None:
    page.get_by_role("tab", name=name).click()


def wait_for_text(page, selector: str, fragment: str, timeout: float) -> str:
    page.wait_for_function("([s, f]) => document.querySelector(s)?.innerText.includes(f)", arg=[selector, fragment],
                           timeout=timeout * 1000)
    return page.locator(selector).inner_text()


def main(argv: list[str] | None = None) -> int:
    from playwright.sync_api import sync_playwright

    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "screenshots", help="folder for the PNG files")
    parser.add_argument("--race-tokens", type=int, default=48, help="max new tokens of each race")
    parser.add_argument("--tokens", type=int, default=16, help="max new tokens per run in Tune k and Compare domains")
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)

    port = free_port()
    url = f"http://127.0.0.1:{port}/"
    started = time.monotonic()
    server = start_app(port, args.out / "app.log")
    try:
        wait_for_server(url, server, timeout=300)
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True)
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            page.goto(url)
            status = wait_until_ready(page, timeout=1200)
            print(f"start to ready: {time.monotonic() - started:.1f} s; page status: {status}", flush=True)

            set_number(page, "sd-max-new-tokens", args.race_tokens)
            for title, name in (("Creative prose", "race-creative-prose"), ("Code editing", "race")):
                choose_preset(page, title)
                set_number(page, "sd-max-new-tokens", args.race_tokens)
                print(f"{title}: live speed-up {run_race(page, timeout=900)}", flush=True)
                page.screenshot(path=args.out / f"{name}.png", full_page=True)

            open_tab(page, "Tune k")
            set_number(page, "sd-k-from", 1)
            set_number(page, "sd-k-to", 5)
            set_number(page, "sd-sweep-tokens", args.tokens)
            page.click("#sd-sweep-run")
            print(wait_for_text(page, "#sd-sweep-text", "5 of 5 values", timeout=900), flush=True)
            page.screenshot(path=args.out / "tune-k.png", full_page=True)

            open_tab(page, "Compare domains")
            set_number(page, "sd-suite-tokens", args.tokens)
            page.click("#sd-suite-run")
            wait_for_text(page, "#sd-domains-progress", "6 of 6 domains done", timeout=1200)
            print(page.locator("#sd-domains-text").inner_text(), flush=True)
            page.screenshot(path=args.out / "compare-domains.png", full_page=True)

            open_tab(page, "Check the distribution")
            page.get_by_label("Acceptance rule").click()
            page.get_by_role("option", name="resample from p").click()
            page.click("#sd-check-run")
            print(wait_for_text(page, "#sd-check-text", "2000 samples: chi-square", timeout=600), flush=True)
            page.wait_for_timeout(1000)
            page.screenshot(path=args.out / "check-distribution.png", full_page=True)
            browser.close()
    finally:
        server.terminate()
        server.wait(60)
    return 0


if __name__ == "__main__":
    sys.exit(main())
