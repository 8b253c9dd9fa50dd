"""The Gradio demo on tiny models: the layout builds, every callback runs, limits warn, visitors stay apart.

The models here are random tiny Llamas (`tiny_transformer`) with a character tokenizer, so a whole race
takes about a second. `test_demo_browser.py` drives the real page with the real Qwen pair.
"""

import contextlib
import os
import re
import socket
import string
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import gradio as gr
import pytest
import torch

from demo import app, distribution, render
from demo.engine import ModelsNotReady, SharedModels
from demo.logic import DEFAULTS, LIMITS, DemoLogic
from demo.record_presets import RECORDINGS, load_recordings, record
from demo.text import TEXT, TEXT_DE, language_of, speaking
from specdec_mini import catalog, domains
from specdec_mini.decoding import GenerationConfig, speculative_generate
from specdec_mini.drafters import DraftModelDrafter
from specdec_mini.toy import tiny_transformer

ROOT = Path(__file__).resolve().parent.parent
PROMPT = "def add(a, b):\n    return a + b\n\ndef add(a, b):\n"


class CharTokenizer:
    """ASCII characters as token ids 0..127, so tiny models can take text prompts."""

    chat_template = None
    eos_token_id = None

    def get_vocab(self) -> dict[str, int]:
        return {chr(i): i for i in range(128)}

    def __call__(self, text: str) -> dict[str, list[int]]:
        return {"input_ids": [ord(c) if ord(c) < 128 else ord("?") for c in text]}

    def decode(self, ids: list[int], skip_special_tokens: bool = True) -> str:
        return "".join(chr(i) for i in ids)


def tiny_loader(name: str):
    """A tiny Llama with a character tokenizer; the draft is a perturbed copy (acceptance rate about 0.5)."""
    model = tiny_transformer(vocab_size=128, seed=0)
    if name == "tiny-draft":
        with torch.no_grad():
            generator = torch.Generator().manual_seed(1)
            for param in model.model.parameters():
                param.add_(0.005 * torch.randn(param.shape, generator=generator))
    model.tokenizer = CharTokenizer()
    model.name = name
    model.context_length = 4096  # the domain prompts are long in characters; rotary positions go that far
    return model


@pytest.fixture(autouse=True)
def one_thread():
    # Tiny tensors: torch's thread pool only adds waiting, most of all on a busy 2-core machine.
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def models():
    models = SharedModels("tiny-target", "tiny-draft", loader=tiny_loader)
    assert models.wait(120), f"tiny models failed to load: {models.status()}"
    return models


@pytest.fixture
def warnings_seen():
    return []


@pytest.fixture
def logic(models, warnings_seen):
    return DemoLogic(models, load_recordings(), warn=warnings_seen.append, min_interval=0.0)


def last(updates) -> dict:
    """All updates of a streaming callback merged, as the page ends up showing them."""
    merged = {}
    for update in updates:
        merged.update(update)
    return merged


@contextlib.contextmanager
def browser_page(url: str, tmp_path: Path, locale: str):
    """A headless Chromium page on the served demo, ready; a failure inside saves a full-page screenshot."""
    from playwright.sync_api import sync_playwright

    from demo.screenshots import CHROMIUM

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True)
        page = browser.new_page(locale=locale, viewport={"width": 1280, "height": 900})
        try:
            page.goto(url)
            page.wait_for_selector("#sd-status .sd-ready", timeout=60_000)
            # The page's load event fills the settings; wait for it before changing them.
            page.wait_for_function("() => document.querySelector('#sd-prompt textarea').value.length > 0",
                                   timeout=30_000)
            yield page
        except Exception:
            page.screenshot(path=tmp_path / "failure.png", full_page=True)
            print(f"screenshot of the failing page: {tmp_path / 'failure.png'}")
            raise
        finally:
            browser.close()



def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


# --- layout ----------------------------------------------------------------------------------------------


def test_layout_builds_with_four_tabs(logic):
    demo = app.make_demo(logic)
    english = demo.specdec_i18n.translations_dict["en"]
    # Static labels are I18n keys that the browser translates; the English table gives their text.
    tabs = [english[block.label.key] for block in demo.blocks.values() if isinstance(block, gr.Tab)]
    assert tabs == ["Race", "Tune k", "Compare domains", "Check the distribution"], f"tabs: {tabs}"
    states = [block for block in demo.blocks.values() if isinstance(block, gr.State)]
    assert len(states) == 2, f"expected two gr.State (the visitor's runs and language), got {len(states)}"


def test_layout_model_events_share_one_queue_slot(logic):
    demo = app.make_demo(logic)
    heavy = {fn.name: fn for fn in demo.fns.values() if fn.name in ("race", "sweep", "compare_domains", "check_distribution")}
    assert sorted(heavy) == ["check_distribution", "compare_domains", "race", "sweep"], f"events: {sorted(heavy)}"
    for name, fn in heavy.items():
        assert fn.concurrency_id == app.MODEL_QUEUE, f"{name} runs in group {fn.concurrency_id}"
        assert fn.concurrency_limit == 1, f"{name} allows {fn.concurrency_limit} runs at once"
    cancelled = {demo.fns[i].name for fn in demo.fns.values() for i in fn.cancels}
    assert cancelled == set(heavy), f"Stop buttons cancel {cancelled}, expected {set(heavy)}"


def test_header_derives_from_configuration(logic):
    header = logic.header()
    assert f"k = {DEFAULTS.k}" in header, header
    assert f"up to {DEFAULTS.max_new_tokens} new tokens" in header, header
    assert f"k from 1 to {LIMITS.k_max}" in header, header
    assert "tiny-target" in header, header
    assert "tiny-draft" in header, header


# --- race ------------------------------------------------------------------------------------------------


def test_race_streams_coloured_tokens(logic):
    updates = list(logic.race(PROMPT, 4, 0.0, 1.0, 24, 0, "model", None))
    assert len(updates) > 2, f"expected a streamed race, got {len(updates)} updates"
    final = last(updates)
    assert 'class="sd-tok sd-' in final["spec_html"], final["spec_html"][:300]
    assert "sd-speedup" in final["stats"], final["stats"][:300]
    assert 'class="sd-tok ' not in final["plain_html"], "plain decoding tokens must not be coloured"
    assert len(final["history"]["data"]) == 1, f"history: {final['history']}"


def test_race_greedy_matches_plain(logic):
    config = GenerationConfig(max_new_tokens=24, k=3)
    records = list(logic.race_records(PROMPT, config, "model"))
    final = records[-1]
    assert records[0]["plain"] is None, "the speculative side runs first"
    assert final["identical"] is True, f"greedy outputs differ: {final['speculative']['text']!r} vs {final['plain']['text']!r}"
    kinds = set(final["speculative"]["kinds"])
    # "target" marks a round that drafted nothing, as the last round does when only one token is left.
    assert {"accepted", "correction"} <= kinds <= {"accepted", "correction", "bonus", "target"}, f"kinds: {kinds}"
    assert final["speculative"]["new_tokens"] == 24, final["speculative"]["new_tokens"]


def test_race_prompt_lookup_drafter(logic):
    final = last(logic.race(PROMPT, 3, 0.0, 1.0, 16, 0, "lookup", None))
    assert final["history"]["data"][0][1] == "lookup", f"history row: {final['history']}"


def test_race_session_is_per_visitor(logic):
    alice = {"runs": []}
    first = last(logic.race(PROMPT, 2, 0.0, 1.0, 8, 0, "model", alice))
    second = last(logic.race(PROMPT, 2, 0.0, 1.0, 8, 0, "model", first["session"]))
    bob = last(logic.race(PROMPT, 2, 0.0, 1.0, 8, 0, "model", {"runs": []}))
    assert alice == {"runs": []}, "the callback changed the visitor's old session value in place"
    assert len(second["session"]["runs"]) == 2, f"second visit: {second['session']}"
    assert len(bob["session"]["runs"]) == 1, f"another visitor sees {bob['session']}"


def test_race_limits_warn(logic, warnings_seen):
    long_prompt = "x" * (LIMITS.max_prompt_chars + 10)
    updates = logic.race(long_prompt, LIMITS.k_max + 5, 0.0, 1.0, LIMITS.max_new_tokens + 1, 0, "model", None)
    next(updates)  # every limit is checked before the first page update
    updates.close()
    expected = ["keeps the first 4000", "k was 15", "Max new tokens was 257", "keeps the first 512"]
    for fragment in expected:
        assert any(fragment in warning for warning in warnings_seen), f"no warning with {fragment!r}: {warnings_seen}"


def test_race_empty_prompt_warns(logic, warnings_seen):
    updates = list(logic.race("   ", 4, 0.0, 1.0, 8, 0, "model", None))
    assert updates == [], f"an empty prompt still ran: {updates}"
    assert warnings_seen == ["The prompt is empty: choose a preset or type a prompt."], warnings_seen


def test_race_invalid_setting_raises_valueerror(logic):
    with pytest.raises(ValueError, match="top_p"):
        list(logic.race(PROMPT, 4, 0.5, 0.0, 8, 0, "model", None))


def test_stop_releases_models(logic, models):
    updates = logic.race(PROMPT, 2, 0.0, 1.0, 64, 0, "model", None)
    next(updates)
    next(updates)
    assert models._lock.locked(), "a running race must hold the models"
    updates.close()  # what Gradio does when the visitor presses Stop
    assert not models._lock.locked(), "closing the race must release the models"
    with models.use():
        pass


# --- loading ---------------------------------------------------------------------------------------------


def test_models_not_ready_while_loading():
    release = __import__("threading").Event()

    def slow_loader(name):
        release.wait(30)
        return tiny_loader(name)

    models = SharedModels("tiny-target", "tiny-draft", loader=slow_loader).start()
    status = models.status()
    assert status.state == "loading", f"status: {status}"
    view = DemoLogic(models, warn=lambda message: None).status()
    assert view["loading"] and "<progress" in view["status"], view
    with pytest.raises(ModelsNotReady, match="loading the target"):
        with models.use():
            pass
    release.set()
    assert models.wait(60), f"loading did not finish: {models.status()}"


def test_loading_failure_is_shown():
    def broken_loader(name):
        raise ValueError(f"model file {name} not found")

    models = SharedModels("missing.gguf", "tiny-draft", loader=broken_loader)
    assert not models.wait(30), "a failing loader must not report ready"
    html = DemoLogic(models, warn=lambda message: None).status()["status"]
    assert "model file missing.gguf not found" in html, html


def test_models_from_environment(monkeypatch):
    monkeypatch.setenv("SPECDEC_DEMO_TARGET", "smollm2-135m")
    monkeypatch.delenv("SPECDEC_DEMO_DRAFT", raising=False)
    models = SharedModels.from_environment()
    assert models.target_name == "smollm2-135m", models.target_name
    assert models.draft_name == catalog.DEFAULT_DRAFT, models.draft_name
    assert models.draft_weights == "int8", models.draft_weights


def test_unknown_draft_weights_named(monkeypatch):
    monkeypatch.setenv("SPECDEC_DEMO_DRAFT_WEIGHTS", "int4")
    with pytest.raises(ValueError, match="'int4'.*SPECDEC_DEMO_DRAFT_WEIGHTS"):
        SharedModels.from_environment()


def test_int8_draft_named_on_page(logic, monkeypatch):
    monkeypatch.setattr(logic.models, "draft_weights", "int8")
    assert "int8 weights" in logic.header(), "the page must say that the draft runs in int8"


# --- the other tabs --------------------------------------------------------------------------------------


def test_sweep_plots_measured_and_theory(logic):
    final = last(logic.sweep(PROMPT, 1, 3, 0.0, 1.0, 12, 0, "model"))
    names = [trace.name for trace in final["sweep_plot"].data]
    assert names == ["measured speed-up", "expected speed-up", "acceptance rate"], names
    assert list(final["sweep_plot"].data[0].x) == [1, 2, 3], final["sweep_plot"].data[0].x
    assert "Measured alpha" in final["sweep_text"], final["sweep_text"]


def test_sweep_swaps_reversed_range(logic, warnings_seen):
    final = last(logic.sweep(PROMPT, 3, 2, 0.0, 1.0, 6, 0, "lookup"))
    assert list(final["sweep_plot"].data[0].x) == [2, 3], final["sweep_plot"].data[0].x
    assert any("uses k from 2 to 3" in warning for warning in warnings_seen), warnings_seen


def test_compare_domains_covers_suite(logic):
    final = last(logic.compare_domains(3, 4, "model"))
    bars = final["domains_plot"].data[0]
    assert list(bars.x) == [prompt.title for prompt in domains.SUITE], bars.x
    for prompt in domains.SUITE:
        assert prompt.why in final["domains_text"], f"missing the reason for {prompt.domain}"


@pytest.mark.parametrize("rule,consistent", [("correct", True), ("inverted ratio", False), ("argmax draft", False)])
def test_check_distribution_catches_broken_rules(logic, rule, consistent):
    final = last(logic.check_distribution(rule, 3, 1.0, 1.0, 1500, 0))
    plain_line, spec_line = final["check_text"].splitlines()
    assert "consistent" in plain_line, plain_line
    verdict = "consistent" if consistent else "rejected"
    assert verdict in spec_line, f"{rule}: {spec_line}"
    assert len(final["check_plot"].data[0].x) == distribution.TOY_VOCAB ** distribution.TOY_TOKENS


# --- recorded presets ------------------------------------------------------------------------------------


def test_record_and_show_preset(logic):
    recordings = record(logic, ["json"], GenerationConfig(max_new_tokens=8, k=2), "model")
    expected = {"recorded_at", "machine", "target", "draft", "draft_weights"}
    assert set(recordings["meta"]) == expected, recordings["meta"]
    shown = DemoLogic(logic.models, recordings, warn=lambda message: None).show_preset("json")
    assert shown["prompt"] == domains.get("json").prompt
    assert shown["k"] == 2, shown
    assert shown["max_new_tokens"] == 8, shown
    assert "Recorded on" in shown["recorded_note"], shown["recorded_note"]
    assert "sd-tok" in shown["spec_html"], shown["spec_html"][:200]


def test_committed_recordings_cover_suite(logic):
    recordings = load_recordings(RECORDINGS)
    meta = recordings["meta"]
    assert meta["target"] == catalog.DEFAULT_TARGET, meta
    assert meta["draft"] == catalog.DEFAULT_DRAFT, meta
    assert meta["draft_weights"] == "int8", meta
    note = logic.show_preset("code-editing")["recorded_note"]
    assert "qwen2.5-coder-0.5b (int8)" in note, f"the note must name the int8 draft: {note}"
    assert sorted(recordings["races"]) == sorted(domains.BY_NAME), sorted(recordings["races"])
    for domain, race in recordings["races"].items():
        assert race["speedup"] > 0, f"{domain}: speed-up {race['speedup']}"
        assert race["plain"]["new_tokens"] > 0, f"{domain}: no plain tokens"
        assert "sd-accepted" in logic.show_preset(domain)["spec_html"], f"{domain} has no accepted draft token"
    assert len(logic.recorded_domains()["domains_plot"].data[0].x) == len(domains.SUITE)


# --- wiring and serving ----------------------------------------------------------------------------------


def test_wire_turns_valueerror_into_gr_error():
    def reject(value):
        raise ValueError("top_p must lie in (0, 1], got <7>")

    with gr.Blocks(analytics_enabled=False) as blocks:
        box, out, button = gr.Textbox(), gr.Textbox(), gr.Button()
        dependency = app.wire(button.click, reject, {"value": box}, {"out": out})
    handler = blocks.fns[dependency["id"]].fn
    with pytest.raises(gr.Error) as raised:
        handler("x")
    assert raised.value.message == "top_p must lie in (0, 1], got &lt;7&gt;", raised.value.message
    assert raised.value.print_exception is False, "a rejected input is no server error"


def test_served_app_races_two_visitors(logic):
    from gradio_client import Client

    demo = app.serve(logic, free_port(), block=False)
    try:
        first, second = Client(demo.local_url, verbose=False), Client(demo.local_url, verbose=False)
        arguments = {"prompt": PROMPT, "k": 3, "temperature": 0.0, "top_p": 1.0, "max_new_tokens": 12, "seed": 0,
                     "drafter": "model", "api_name": "/race"}
        first.predict(**arguments)
        spec_html, _, stats, _, _, history = first.predict(**arguments)
        other = second.predict(**arguments)[-1]
    finally:
        demo.close()
    assert "sd-tok" in spec_html, spec_html[:300]
    assert "sd-speedup" in stats, stats[:300]
    assert len(history["data"]) == 2, f"first visitor: {history['data']}"
    assert len(other["data"]) == 1, f"second visitor sees {other['data']}"


def test_main_takes_port_from_argument_or_environment(monkeypatch):
    ports = []
    monkeypatch.setattr(app, "serve", lambda logic, port, block=True: ports.append(port))
    monkeypatch.setattr(SharedModels, "start", lambda self: self)
    monkeypatch.setenv("GRADIO_SERVER_PORT", "7999")
    app.main()
    app.main(port=8123)
    monkeypatch.delenv("GRADIO_SERVER_PORT")
    app.main()
    assert ports == [7999, 8123, app.DEFAULT_PORT], ports


def test_cli_demo_calls_main(monkeypatch):
    from specdec_mini import cli

    calls = []
    monkeypatch.setattr(app, "main", lambda port: calls.append(port) or 0)
    assert cli.main(["demo", "--port", "8124"]) == 0
    assert cli.main(["demo"]) == 0  # no --port: demo/app.py falls back to $GRADIO_SERVER_PORT, then 7860
    assert calls == [8124, None], calls


def test_python_demo_app_serves_page(tmp_path):
    port = free_port()
    # A model file that does not exist: the page must still come up and say why nothing runs.
    env = {**os.environ, "GRADIO_SERVER_PORT": str(port), "SPECDEC_DEMO_TARGET": str(tmp_path / "none.gguf"),
           "GRADIO_ANALYTICS_ENABLED": "False"}
    env.pop("GRADIO_SERVER_NAME", None)
    log = open(tmp_path / "app.log", "w")
    server = subprocess.Popen([sys.executable, "demo/app.py"], cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline, page = time.monotonic() + 120, None
        while time.monotonic() < deadline and page is None and server.poll() is None:
            try:
                page = urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=5).read().decode()
            except OSError:
                time.sleep(1)
    finally:
        server.terminate()
        server.wait(30)
        log.close()
    assert page is not None, f"no page on port {port}; log:\n{(tmp_path / 'app.log').read_text()[-2000:]}"
    assert "specdec-mini" in page, page[:500]


# --- German ----------------------------------------------------------------------------------------------

FILLED_STATIC_KEYS = {"page_header", "check_intro_filled", "spec_heading", "plain_heading"}  # app.translations
SAME_IN_BOTH = {"prompt", "seed", "drafter", "stat"}  # words German borrows as they are, and one empty cell


def placeholders(text: str) -> list[str]:
    return sorted(field for _, field, _, _ in string.Formatter().parse(text) if field)


def test_every_ui_string_has_english_and_german():
    assert set(TEXT) == set(TEXT_DE), f"keys in one language only: {sorted(set(TEXT) ^ set(TEXT_DE))}"
    for key, english in TEXT.items():
        german = TEXT_DE[key]
        assert placeholders(german) == placeholders(english), f"{key}: {german!r} vs {english!r}"
        assert bool(german) == bool(english), f"{key}: empty in one language only"
    untranslated = {key for key in TEXT if TEXT[key] and TEXT[key] == TEXT_DE[key]} - SAME_IN_BOTH
    assert not untranslated, f"German text equals the English: {sorted(untranslated)}"
    # Every key the demo's code names, including those it builds from a prefix, is in the tables.
    used = set()
    for path in (ROOT / "demo").glob("*.py"):
        used |= set(re.findall(r'\b(?:t|i18n)\("([a-z_][\w.\-]*)"[,)]', path.read_text(encoding="utf-8")))
    used |= {f"legend_{kind}" for kind in render.TOKEN_COLOURS}
    used |= {f"domain_{part}.{prompt.domain}" for prompt in domains.SUITE for part in ("title", "why")}
    missing = used - set(TEXT) - FILLED_STATIC_KEYS
    assert not missing, f"keys used by the demo but missing from demo/text.py: {sorted(missing)}"


@pytest.mark.parametrize("header, language", [
    ("de-DE,de;q=0.9,en;q=0.8", "de"), ("de", "de"), ("en-US,en;q=0.9,de;q=0.8", "en"), ("fr-FR,fr;q=0.9", "en"),
    ("fr-FR,de;q=0.5", "de"), ("en;q=0.2,de-AT;q=0.7", "de"), ("de;q=0", "en"), ("", "en"), (None, "en"),
    ("de;q=abc", "en"),
])
def test_language_of_accept_language_header(header, language):
    assert language_of(header) == language, f"{header!r} -> {language_of(header)!r}"


def test_static_labels_are_translated_in_the_browser(logic):
    demo = app.make_demo(logic)
    tables = demo.specdec_i18n.translations_dict
    assert set(tables) == {"en", "de"}, set(tables)
    assert set(tables["en"]) == set(tables["de"]), sorted(set(tables["en"]) ^ set(tables["de"]))
    tabs = [tables["de"][block.label.key] for block in demo.blocks.values() if isinstance(block, gr.Tab)]
    assert tabs == ["Wettlauf", "k abstimmen", "Domänen vergleichen", "Verteilung prüfen"], tabs
    assert "Zielmodell: **tiny-target**" in tables["de"]["page_header"], tables["de"]["page_header"]
    assert "Target model: **tiny-target**" in tables["en"]["page_header"], tables["en"]["page_header"]


def test_logic_answers_in_the_visitors_language(logic):
    with speaking("de"):
        final = last(logic.race(PROMPT, 3, 0.0, 1.0, 12, 0, "model", None))
        suite = logic.recorded_domains()["domains_text"]
        choices = logic.preset_choices()
    assert "Token pro Sekunde" in final["stats"], final["stats"][:400]
    assert "Lauf 1 dieser Sitzung" in final["recorded_note"], final["recorded_note"]
    assert final["history"]["headers"][6] == "Beschleunigung", final["history"]["headers"]
    assert "Freie Prosa" in suite, suite[:400]
    assert "Akzeptanzrate" in suite, suite[:400]
    assert ("Code bearbeiten", "code-editing") in choices, choices
    # Outside the block, and for every other visitor, the demo speaks English again.
    english = last(logic.race(PROMPT, 3, 0.0, 1.0, 12, 0, "model", None))
    assert "tokens per second" in english["stats"], english["stats"][:400]


@pytest.mark.browser
@pytest.mark.parametrize("locale, expected", [
    ("de-DE", {"tab": "Wettlauf", "button": "Live starten", "legend": "akzeptiertes Draft-Token",
               "note": "dieser Sitzung", "stats": "Token pro Sekunde", "history": "Beschleunigung"}),
    ("en-US", {"tab": "Race", "button": "Run live", "legend": "accepted draft token",
               "note": "of your session", "stats": "tokens per second", "history": "speed-up"}),
])
def test_browser_language_picks_the_page_language(logic, tmp_path, locale, expected):
    from demo.screenshots import set_number

    demo = app.serve(logic, free_port(), block=False)
    try:
        with browser_page(demo.local_url, tmp_path, locale) as page:
            page.get_by_role("tab", name=expected["tab"]).wait_for(timeout=30_000)
            page.get_by_role("button", name=expected["button"]).wait_for(timeout=30_000)
            page.wait_for_function("f => document.body.innerText.includes(f)", arg=expected["legend"],
                                   timeout=30_000)
            set_number(page, "sd-max-new-tokens", 8)
            page.click("#sd-run")
            page.wait_for_function("f => document.querySelector('#sd-note').innerText.includes(f)",
                                   arg=expected["note"], timeout=120_000)
            stats = page.locator("#sd-stats").inner_text()
            history = page.locator("#sd-history").inner_text()
    finally:
        demo.close()
    assert expected["stats"] in stats, stats
    assert expected["history"] in history, history


# --- load and cancellation --------------------------------------------------------------------------------

VISITORS = 8


def resident_mb() -> float:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def test_eight_visitors_queued_and_apart(logic):
    """Check 8 visitors pressing Run at once: all finish, waiting ones get a queue position, none gets another's run."""
    from gradio_client import Client
    from gradio_client.utils import Status

    demo = app.serve(logic, free_port(), block=False)
    try:
        clients = [Client(demo.local_url, verbose=False) for _ in range(VISITORS)]
        before = resident_mb()
        started = time.monotonic()
        # Each visitor requests its own k, so a table row shows whose run it is.
        jobs = [client.submit(prompt=PROMPT, k=number + 1, temperature=0.0, top_p=1.0,
                              max_new_tokens=12, seed=number, drafter="model", api_name="/race")
                for number, client in enumerate(clients)]
        ranks = set()
        while not all(job.done() for job in jobs):
            assert time.monotonic() - started < 300, "8 short races did not finish within 5 minutes"
            for job in jobs:
                status = job.status()
                if status.code == Status.IN_QUEUE and status.rank is not None:
                    ranks.add(status.rank)
            time.sleep(0.05)
        finals = [job.result(timeout=60) for job in jobs]
        grown = resident_mb() - before

        # Invalid requests through the API get an error message, and the server keeps serving.
        with pytest.raises(Exception, match="drafter") as raised:
            clients[0].predict(prompt=PROMPT, k=3, temperature=0.0, top_p=1.0, max_new_tokens=4, seed=0,
                               drafter="no-such-drafter", api_name="/race")
        after_error = clients[1].predict(prompt=PROMPT, k=3, temperature=0.0, top_p=1.0, max_new_tokens=4, seed=0,
                                         drafter="model", api_name="/race")
    finally:
        demo.close()
    assert ranks, "no visitor ever saw a queue position while 8 races waited for one worker"
    for number, final in enumerate(finals):
        history = final[-1]["data"]
        assert len(history) == 1, f"visitor {number} sees {len(history)} runs in their table: {history}"
        assert history[0][2] == number + 1, f"visitor {number} (k = {number + 1}) sees a run with k = {history[0][2]}"
    assert "Traceback" not in str(raised.value), raised.value
    assert "sd-tok" in after_error[0], "the server stopped serving after an invalid request"
    assert grown < 200, f"resident memory grew by {grown:.0f} MB over 8 visitors"


@pytest.mark.browser
def test_stop_button_frees_the_worker(models, logic, monkeypatch, tmp_path):
    from demo.screenshots import set_number

    # Slow the tiny target down so that a long race is still running when Stop is pressed.
    forward = models.target.model.forward

    def slow_forward(*args, **kwargs):
        time.sleep(0.03)
        return forward(*args, **kwargs)

    monkeypatch.setattr(models.target.model, "forward", slow_forward)
    demo = app.serve(logic, free_port(), block=False)
    try:
        with browser_page(demo.local_url, tmp_path, "en-US") as page:
            set_number(page, "sd-max-new-tokens", LIMITS.max_new_tokens)
            page.click("#sd-run")
            page.wait_for_selector("#sd-spec .sd-tok", timeout=60_000)
            page.get_by_role("button", name="Stop").first.click()
            page.wait_for_function("() => document.querySelector('#sd-note').innerText.includes('Stopped')",
                                   timeout=30_000)
            time.sleep(0.5)  # a forward pass already running may finish
            stopped_at = models.target.forward_count
            time.sleep(1.5)
            after_pause = models.target.forward_count
            set_number(page, "sd-max-new-tokens", 6)
            started = time.monotonic()
            page.click("#sd-run")
            page.wait_for_function(
                "() => document.querySelector('#sd-note').innerText.includes('run 1 of your session')",
                timeout=60_000)
            second_run = time.monotonic() - started
    finally:
        demo.close()
    assert after_pause == stopped_at, f"the stopped race kept running: {after_pause - stopped_at} more forward passes"
    assert second_run < 30, f"the next race waited {second_run:.0f} s: the worker was not freed"


def test_seeded_demo_matches_library(logic, models):
    """Check that a seeded sampled race repeats, and that the library with that seed gives the same text."""
    config = GenerationConfig(max_new_tokens=16, k=3, temperature=1.0, top_p=0.9, seed=7)
    first = list(logic.race_records(PROMPT, config, "model"))[-1]
    second = list(logic.race_records(PROMPT, config, "model"))[-1]
    assert first["speculative"]["text"] == second["speculative"]["text"], "the same seed gave two different texts"
    target, draft = models.target, models.draft
    library = speculative_generate(target, DraftModelDrafter(draft), target.encode(PROMPT), config)
    assert library.text == first["speculative"]["text"], f"library {library.text!r} != demo {first['speculative']['text']!r}"
