"""The Gradio demo of specdec-mini: layout and wiring only, over the callbacks of `demo.logic`.

    python demo/app.py            serve on 127.0.0.1, port $GRADIO_SERVER_PORT or 7860
    specdec-mini demo --port 8000

`make_demo(logic)` builds the `gr.Blocks` and receives everything it runs as the `logic` object, so tests
build the same page over tiny models. Inputs reach each callback by parameter name (`inputs_kwargs`), and
callbacks return dicts keyed by output names, so a reordered layout cannot feed a value to the wrong
parameter. Every model event shares one queue slot: the models hold a single KV cache each, and 2 CPU
cores gain nothing from two runs at once.

Every text comes from `demo.text` in English or German: the browser's preferred language picks one, for
the static labels through Gradio's I18n and for everything rendered at run time through the `lang` state
that the page sets when it loads.

The models load in a background thread when the process starts ($SPECDEC_DEMO_TARGET and
$SPECDEC_DEMO_DRAFT name them; the catalog's default pair otherwise, with the draft in int8 unless
$SPECDEC_DEMO_DRAFT_WEIGHTS is float32). On a hosted Space the runtime sets
$GRADIO_SERVER_NAME to 0.0.0.0 so the proxy can reach the app; locally it listens on 127.0.0.1 only.

Left out: authentication and per-visitor rate limits beyond the queue.
"""

from __future__ import annotations

import functools
import html
import inspect
import logging
import os
import sys
from collections.abc import Callable
from pathlib import Path

# `python demo/app.py` puts demo/ on sys.path, not the checkout root that contains `demo` and `specdec_mini`.
ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import gradio as gr  # noqa: E402

from demo import render  # noqa: E402
from demo.engine import ModelsNotReady, SharedModels  # noqa: E402
from demo.distribution import TOY_DEFAULTS, TOY_TOKENS, TOY_VOCAB, rule_choices  # noqa: E402
from demo.logic import (  # noqa: E402
    DEFAULTS, DRAFT_MODEL, LIMITS, PROMPT_LOOKUP, SUITE_DEFAULT_TOKENS, SWEEP_DEFAULTS, DemoLogic,
)
from demo.record_presets import load_recordings  # noqa: E402
from demo.text import TEXTS, language_of, speaking, static_keys, t  # noqa: E402

DEFAULT_PORT = 7860
DEFAULT_PRESET = "code-editing"  # shown to a new visitor first: an edit copies its prompt, the best case for drafting
QUEUE_SIZE = 32  # events that may wait for their turn; Gradio rejects more with a 'queue is full' message
MODEL_QUEUE = "models"  # the concurrency group of every event that computes

log = logging.getLogger("specdec_mini.demo")


def wire(trigger: Callable, fn: Callable, inputs: dict[str, gr.components.Component],
         outputs: dict[str, gr.components.Component], **options) -> gr.events.Dependency:
    """Connect `fn` to an event: inputs by parameter name, its returned names mapped to components.

    The handler keeps `fn`'s signature (functools.wraps), from which Gradio places each named input, plus a
    keyword `lang`: pass the page's language state as inputs["lang"] and `fn` runs inside `speaking(lang)`,
    one step at a time for generators, so every text it builds is in the visitor's language.
    A ValueError from the library becomes a gr.Error with its message; models that are still loading
    become a gr.Warning. Neither shows a traceback to the visitor.
    """

    def to_components(update: dict) -> dict:
        return {outputs[name]: value for name, value in update.items()}

    def explain(error: Exception) -> None:
        if isinstance(error, ModelsNotReady):
            gr.Warning(t("not_ready", message=str(error)))
            return
        log.info("rejected input: %s", error)
        raise gr.Error(html.escape(str(error)), print_exception=False) from None

    if inspect.isgeneratorfunction(fn):
        @functools.wraps(fn)
        def handler(*args, lang: str = "en", **kwargs):
            # Gradio may run each step of a generator in a different worker thread, so the language is set
            # around every step rather than once.
            with speaking(lang):
                steps = fn(*args, **kwargs)
            while True:
                with speaking(lang):
                    try:
                        update = next(steps)
                    except StopIteration:
                        return
                    except (ModelsNotReady, ValueError) as error:
                        explain(error)
                        return
                    components = to_components(update)
                yield components
    else:
        @functools.wraps(fn)
        def handler(*args, lang: str = "en", **kwargs):
            with speaking(lang):
                try:
                    return to_components(fn(*args, **kwargs))
                except (ModelsNotReady, ValueError) as error:
                    explain(error)
                    return {}

    signature = inspect.signature(fn)
    if "lang" not in signature.parameters:
        language = inspect.Parameter("lang", inspect.Parameter.KEYWORD_ONLY, default="en", annotation=str)
        handler.__signature__ = signature.replace(parameters=[*signature.parameters.values(), language])
    return trigger(handler, inputs_kwargs=inputs, outputs=list(outputs.values()), **options)


def translations(logic: DemoLogic) -> gr.I18n:
    """Gradio's I18n tables: every placeholder-free text, plus the page's few filled-in static texts."""
    tables = {}
    for language, table in TEXTS.items():
        with speaking(language):
            tables[language] = {key: table[key] for key in static_keys()} | {
                "page_header": logic.header(),
                "check_intro_filled": t("check_intro", vocab=TOY_VOCAB, n_tokens=TOY_TOKENS),
                "spec_heading": f'### {t("spec_panel")}',
                "plain_heading": f'### {t("plain_panel")}',
            }
    return gr.I18n(**tables)


def make_demo(logic: DemoLogic) -> gr.Blocks:
    """Build the page: a header, the model status, and the tabs Race, Tune k, Compare domains, Check the distribution."""
    # Page updates that run no model: no queue slot, no spinner, and not listed as API endpoints.
    quick = {"concurrency_limit": None, "show_progress": "hidden", "api_visibility": "private"}
    heavy = {"concurrency_id": MODEL_QUEUE, "concurrency_limit": 1}
    # Static texts go to the browser as I18n keys and are translated there. Choices, tables and anything
    # built at run time are rendered on the server, in the language the page stores in `lang`.
    i18n = translations(logic)

    def drafters():
        return [(t("drafter_model"), DRAFT_MODEL), (t("drafter_lookup"), PROMPT_LOOKUP)]

    with gr.Blocks(title=i18n("title"), analytics_enabled=False) as demo:
        demo.specdec_i18n = i18n  # serve() hands it to launch(), which is where Gradio takes it
        session = gr.State({"runs": []})  # per visitor: the table of their own runs
        lang = gr.State("en")  # per visitor: "en" or "de", from the browser's Accept-Language header
        gr.Markdown(i18n("page_header"))
        status = gr.HTML(logic.status()["status"], elem_id="sd-status")
        timer = gr.Timer(1.0)

        with gr.Tabs():
            with gr.Tab(i18n("tab_race"), id="race"):
                with gr.Row():
                    preset = gr.Dropdown(logic.preset_choices(), value=DEFAULT_PRESET, label=i18n("preset"), scale=1)
                    prompt = gr.Textbox(label=i18n("prompt"), lines=5, max_lines=14, scale=3, elem_id="sd-prompt")
                with gr.Accordion(i18n("settings"), open=True):
                    with gr.Row():
                        k = gr.Slider(1, LIMITS.k_max, value=DEFAULTS.k, step=1, label=i18n("k"), elem_id="sd-k")
                        temperature = gr.Slider(0.0, 2.0, value=DEFAULTS.temperature, step=0.05, label=i18n("temperature"))
                        top_p = gr.Slider(0.05, 1.0, value=DEFAULTS.top_p, step=0.05, label=i18n("top_p"))
                    with gr.Row():
                        max_new_tokens = gr.Slider(1, LIMITS.max_new_tokens, value=DEFAULTS.max_new_tokens, step=1,
                                                   label=i18n("max_new_tokens"), elem_id="sd-max-new-tokens")
                        seed = gr.Number(DEFAULTS.seed, precision=0, label=i18n("seed"))
                        drafter = gr.Radio(drafters(), value=DRAFT_MODEL, label=i18n("drafter"))
                with gr.Row():
                    run = gr.Button(i18n("run_live"), variant="primary", elem_id="sd-run")
                    stop = gr.Button(i18n("stop"), variant="stop")
                recorded_note = gr.Markdown(elem_id="sd-note")
                legend = gr.HTML(render.legend_html())
                with gr.Row():
                    with gr.Column():
                        gr.Markdown(i18n("spec_heading"))
                        spec_html = gr.HTML(elem_id="sd-spec")
                    with gr.Column():
                        gr.Markdown(i18n("plain_heading"))
                        plain_html = gr.HTML(elem_id="sd-plain")
                gr.Markdown(i18n("order_note"))
                with gr.Row():
                    stats = gr.HTML(elem_id="sd-stats")
                    race_plot = gr.Plot(show_label=False)
                history = gr.Dataframe(headers=t("history_columns").split("|"), label=i18n("history"), interactive=False,
                                   elem_id="sd-history")

            with gr.Tab(i18n("tab_sweep"), id="sweep"):
                gr.Markdown(i18n("sweep_intro"))
                with gr.Row():
                    k_from = gr.Slider(1, LIMITS.k_max, value=SWEEP_DEFAULTS["k_from"], step=1, label=i18n("k_from"),
                                       elem_id="sd-k-from")
                    k_to = gr.Slider(1, LIMITS.k_max, value=SWEEP_DEFAULTS["k_to"], step=1, label=i18n("k_to"), elem_id="sd-k-to")
                    sweep_tokens = gr.Slider(1, LIMITS.sweep_max_new_tokens, value=SWEEP_DEFAULTS["max_new_tokens"],
                                             step=1, label=i18n("max_new_tokens"), elem_id="sd-sweep-tokens")
                with gr.Row():
                    sweep_run = gr.Button(i18n("sweep_run"), variant="primary", elem_id="sd-sweep-run")
                    sweep_stop = gr.Button(i18n("stop"), variant="stop")
                sweep_text = gr.Markdown(elem_id="sd-sweep-text")
                sweep_plot = gr.Plot(show_label=False)

            with gr.Tab(i18n("tab_domains"), id="domains"):
                gr.Markdown(i18n("domains_intro"))
                with gr.Row():
                    suite_k = gr.Slider(1, LIMITS.k_max, value=DEFAULTS.k, step=1, label=i18n("k"), elem_id="sd-suite-k")
                    suite_tokens = gr.Slider(1, LIMITS.suite_max_new_tokens, value=SUITE_DEFAULT_TOKENS, step=1,
                                             label=i18n("max_new_tokens"), elem_id="sd-suite-tokens")
                    suite_drafter = gr.Radio(drafters(), value=DRAFT_MODEL, label=i18n("drafter"))
                with gr.Row():
                    suite_run = gr.Button(i18n("domains_run"), variant="primary", elem_id="sd-suite-run")
                    suite_stop = gr.Button(i18n("stop"), variant="stop")
                domains_progress = gr.Markdown(elem_id="sd-domains-progress")
                domains_plot = gr.Plot(show_label=False)
                domains_text = gr.Markdown(elem_id="sd-domains-text")

            with gr.Tab(i18n("tab_check"), id="check"):
                gr.Markdown(i18n("check_intro_filled"))
                with gr.Row():
                    rule = gr.Dropdown(rule_choices(), value=rule_choices()[0][1], label=i18n("rule"), scale=2)
                    check_k = gr.Slider(1, 8, value=TOY_DEFAULTS["k"], step=1, label=i18n("k"))
                    check_temperature = gr.Slider(0.2, 2.0, value=TOY_DEFAULTS["temperature"], step=0.1,
                                                  label=i18n("toy_temperature"))
                with gr.Row():
                    draft_noise = gr.Slider(0.0, 3.0, value=TOY_DEFAULTS["draft_noise"], step=0.1, label=i18n("draft_noise"))
                    trials = gr.Slider(100, LIMITS.max_trials, value=TOY_DEFAULTS["trials"], step=100, label=i18n("trials"),
                                       elem_id="sd-trials")
                    check_seed = gr.Number(TOY_DEFAULTS["seed"], precision=0, label=i18n("seed"))
                with gr.Row():
                    check_run = gr.Button(i18n("check_run"), variant="primary", elem_id="sd-check-run")
                    check_stop = gr.Button(i18n("stop"), variant="stop")
                check_text = gr.Markdown(elem_id="sd-check-text")
                check_plot = gr.Plot(show_label=False)

        # The model status line polls until loading ends, then the timer switches itself off.
        def refresh_status(lang: str):
            with speaking(lang):
                view = logic.status()
            return view["status"], gr.Timer(active=view["loading"])

        timer.tick(refresh_status, inputs=[lang], outputs=[status, timer], **quick)

        race_view = {"spec_html": spec_html, "plain_html": plain_html, "stats": stats, "race_plot": race_plot,
                     "recorded_note": recorded_note}
        settings = {"prompt": prompt, "k": k, "temperature": temperature, "top_p": top_p,
                    "max_new_tokens": max_new_tokens, "seed": seed, "drafter": drafter}
        domains_view = {"domains_plot": domains_plot, "domains_text": domains_text}
        page = {"legend": legend, "status": status, "preset": preset, "drafter_choices": drafter,
                "suite_drafter": suite_drafter, "rule": rule, "history": history}

        # On load: pick the visitor's language, then draw everything the server renders in it.
        def open_page(request: gr.Request):
            language = language_of(request.headers.get("accept-language") if request else None)
            with speaking(language):
                view = {**logic.show_preset(DEFAULT_PRESET), **logic.recorded_domains()}
                updates = {
                    "legend": render.legend_html(),
                    "status": logic.status()["status"],
                    "preset": gr.Dropdown(choices=logic.preset_choices()),
                    "drafter_choices": gr.Radio(choices=drafters()),
                    "suite_drafter": gr.Radio(choices=drafters()),
                    "rule": gr.Dropdown(choices=rule_choices()),
                    "history": {"headers": t("history_columns").split("|"), "data": []},
                }
            targets = {**race_view, **settings, **domains_view, **page}
            return {lang: language, **{targets[name]: value for name, value in {**view, **updates}.items()}}

        demo.load(open_page, outputs=[lang, *race_view.values(), *settings.values(), *domains_view.values(),
                                      *page.values()], **quick)
        wire(preset.input, logic.show_preset, {"preset": preset, "lang": lang}, {**race_view, **settings}, **quick)

        def stopped(lang: str) -> str:
            with speaking(lang):
                return t("stopped")

        race_event = wire(run.click, logic.race, {**settings, "session": session, "lang": lang},
                          {**race_view, "session": session, "history": history}, **heavy)
        stop.click(stopped, inputs=[lang], outputs=recorded_note, cancels=[race_event], **quick)

        sweep_event = wire(sweep_run.click, logic.sweep,
                           {"prompt": prompt, "k_from": k_from, "k_to": k_to, "temperature": temperature,
                            "top_p": top_p, "max_new_tokens": sweep_tokens, "seed": seed, "drafter": drafter,
                            "lang": lang},
                           {"sweep_plot": sweep_plot, "sweep_text": sweep_text}, **heavy)
        sweep_stop.click(stopped, inputs=[lang], outputs=sweep_text, cancels=[sweep_event], **quick)

        suite_event = wire(suite_run.click, logic.compare_domains,
                           {"k": suite_k, "max_new_tokens": suite_tokens, "drafter": suite_drafter, "lang": lang},
                           {**domains_view, "domains_progress": domains_progress}, **heavy)
        suite_stop.click(stopped, inputs=[lang], outputs=domains_progress, cancels=[suite_event], **quick)

        check_event = wire(check_run.click, logic.check_distribution,
                           {"rule": rule, "k": check_k, "temperature": check_temperature, "draft_noise": draft_noise,
                            "trials": trials, "seed": check_seed, "lang": lang},
                           {"check_plot": check_plot, "check_text": check_text}, **heavy)
        check_stop.click(stopped, inputs=[lang], outputs=check_text, cancels=[check_event], **quick)
    return demo


def serve(logic: DemoLogic, port: int, *, block: bool = True) -> gr.Blocks:
    """Build the page, queue its events and start the server; with block=False return once it listens."""
    demo = make_demo(logic)
    demo.queue(default_concurrency_limit=1, max_size=QUEUE_SIZE)
    host = os.environ.get("GRADIO_SERVER_NAME") or "127.0.0.1"
    demo.launch(server_name=host, server_port=port, css=render.CSS, prevent_thread_lock=not block,
                show_error=False, quiet=not block, i18n=demo.specdec_i18n)
    return demo


def main(port: int | None = None) -> int:
    """Start loading the models, then serve the demo until interrupted."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    port = port or int(os.environ.get("GRADIO_SERVER_PORT") or DEFAULT_PORT)
    models = SharedModels.from_environment().start()
    serve(DemoLogic(models, load_recordings()), port)
    return 0


if __name__ == "__main__":
    sys.exit(main())
