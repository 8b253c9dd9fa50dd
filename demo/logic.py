"""What the demo's buttons do: every callback, on top of `specdec_mini`, with no Gradio layout in sight.

Each callback takes named values and returns (or yields, while it streams) a dict from output names to
values; `demo.app` maps the names to components. The model callbacks hold the shared models for the whole
run (`SharedModels.use`), clip their inputs to `LIMITS` with a warning, and stop between two rounds when
the visitor presses Stop, because Gradio then closes the generator. The distribution check runs on toy
models of its own (`demo.distribution`).

Per-visitor data (the table of one's own runs) travels in and out as the `session` value, which the app
keeps in a `gr.State`. The `DemoLogic` object itself keeps only what every visitor shares.

Left out: top-k (the library supports it; the page keeps to temperature and top-p) and batching visitors.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass

from demo import distribution, render
from demo.engine import SharedModels
from demo.runs import LiveRun, decode_seconds, follow, race_record, theory_curve
from demo.text import t
from specdec_mini import catalog, domains
from specdec_mini.decoding import MAX_K, GenerationConfig, autoregressive_rounds, speculative_rounds
from specdec_mini.drafters import DraftModelDrafter, PromptLookupDrafter

DEFAULTS = GenerationConfig()
OWN_PROMPT = "own"  # the preset value of a typed prompt
DRAFT_MODEL, PROMPT_LOOKUP = "model", "lookup"  # the drafter choices


@dataclass(frozen=True)
class Limits:
    """Bounds on what one visitor may request from a shared 2-core server; larger inputs are clipped with a warning."""

    max_prompt_chars: int = 4000  # characters kept of a typed prompt
    max_prompt_tokens: int = 512  # prompt tokens kept (before the chat template); prefill cost grows with them
    max_new_tokens: int = 256  # per run in the Race tab
    k_max: int = min(10, MAX_K)  # the sliders' upper end; larger k rarely pays on a CPU
    sweep_max_new_tokens: int = 64  # per run in the Tune k tab, which runs one plain + up to k_max runs
    suite_max_new_tokens: int = 64  # per run in the Compare domains tab (6 prompts x 2 runs)
    max_trials: int = 20_000  # samples per decoder in the distribution check


LIMITS = Limits()
SWEEP_DEFAULTS = {"k_from": 1, "k_to": 6, "max_new_tokens": 32}
SUITE_DEFAULT_TOKENS = 32

class DemoLogic:
    """The demo's callbacks over one shared model pair and the recorded presets."""

    def __init__(self, models: SharedModels, recordings: dict | None = None,
                 warn: Callable[[str], None] | None = None, min_interval: float = 0.3) -> None:
        import gradio as gr

        self.models = models
        self.recordings = recordings or {"meta": {}, "races": {}}
        self.warn = warn or gr.Warning  # tests pass a list's append to see the warnings
        self.min_interval = min_interval  # seconds between two page updates of a streaming run

    # --- page text ---------------------------------------------------------------------------------------

    def header(self) -> str:
        defaults = t("defaults", k=DEFAULTS.k, max_new_tokens=DEFAULTS.max_new_tokens,
                     temperature=DEFAULTS.temperature, top_p=DEFAULTS.top_p, seed=DEFAULTS.seed)
        limits = t("limits_line", k_max=LIMITS.k_max, prompt_chars=LIMITS.max_prompt_chars,
                   prompt_tokens=LIMITS.max_prompt_tokens, max_new_tokens=LIMITS.max_new_tokens)
        models = t("models_line", target=self._describe(self.models.target_name),
                   draft=self._describe(self.models.draft_name) + self._weights_note(), defaults=defaults)
        return f'# {t("title")}\n\n{t("intro")}\n\n{models}\n\n{limits}'

    def _weights_note(self) -> str:
        return t("int8_note") if getattr(self.models, "draft_weights", "float32") == "int8" else ""

    @staticmethod
    def _describe(name: str) -> str:
        spec = catalog.MODELS.get(name)
        return f"**{name}**" if spec is None else f"**{name}** ({spec.display_name}, {spec.license})"

    def status(self) -> dict:
        status = self.models.status()
        return {"status": render.status_html(status), "loading": status.state == "loading"}

    # --- presets and recordings --------------------------------------------------------------------------

    @staticmethod
    def preset_choices() -> list[tuple[str, str]]:
        return [(t(f"domain_title.{prompt.domain}"), prompt.domain) for prompt in domains.SUITE] + [(t("own_prompt"), OWN_PROMPT)]

    def show_preset(self, preset: str) -> dict:
        """Fill the prompt and settings of a preset and show its recorded race, if there is one."""
        if preset == OWN_PROMPT:
            return {}
        prompt = domains.get(preset).prompt
        record = self.recordings["races"].get(preset)
        if record is None:
            return {"prompt": prompt, "recorded_note": t("no_recording"), **self._race_view(None)}
        meta = self.recordings["meta"]
        weights = meta.get("draft_weights", "float32")
        draft = meta.get("draft", "?") + ("" if weights == "float32" else f" ({weights})")
        note = t("recorded_note", when=meta.get("recorded_at", "?"), machine=meta.get("machine", "?"),
                 target=meta.get("target", "?"), draft=draft)
        return {"prompt": prompt, "recorded_note": note, **record["settings"], **self._race_view(record)}

    def recorded_domains(self) -> dict:
        """Build the domain comparison from the recorded races, to show before any live run."""
        rows, ks = [], set()
        for prompt in domains.SUITE:
            record = self.recordings["races"].get(prompt.domain)
            if record is None or record["speedup"] is None:
                continue
            ks.add(record["settings"]["k"])
            rows.append(self._domain_row(prompt, record["speculative"]["acceptance_rate"], record["speedup"]))
        if not rows:
            return {}
        k = ", ".join(str(k) for k in sorted(ks))
        note = t("domains_recorded", k=k, when=self.recordings["meta"].get("recorded_at", "?"))
        return {"domains_plot": render.domains_figure(rows), "domains_text": self._why_text(rows, note)}

    # --- race --------------------------------------------------------------------------------------------

    def race(self, prompt: str, k: int, temperature: float, top_p: float, max_new_tokens: int, seed: int,
             drafter: str, session: dict | None) -> Iterator[dict]:
        """Race speculative decoding, then plain decoding, on one prompt; the page redraws as tokens arrive."""
        prompt = self._prompt_text(prompt)
        if prompt is None:
            return
        config = GenerationConfig(
            max_new_tokens=self._clip(t("max_new_tokens"), int(max_new_tokens), 1, LIMITS.max_new_tokens),
            k=self._clip("k", int(k), 1, LIMITS.k_max), temperature=float(temperature), top_p=float(top_p),
            seed=int(seed),
        )
        record = None
        for number, record in enumerate(self.race_records(prompt, config, drafter)):
            # The note is set once: an update still in flight when Stop is pressed must not overwrite "Stopped".
            yield self._race_view(record, note=t("live_running") if number == 0 else None)
        if record is not None and record["plain"] is not None:
            session = self._remember(session, record)
            note = t("live_done", run=len(session["runs"]))
            yield {**self._race_view(record, note=note), "session": session,
                   "history": {"headers": t("history_columns").split("|"), "data": session["runs"]}}

    def race_records(self, prompt: str, config: GenerationConfig, drafter: str) -> Iterator[dict]:
        """Run the race as a stream of `runs.race_record` dicts; the last one contains both finished runs."""
        settings = {**asdict(config), "drafter": drafter}
        del settings["top_k"]  # not offered on the page
        with self.models.use() as (target, draft):
            prompt, ids = self._encode(target, prompt)
            spec = LiveRun("speculative", ids, config.k)
            rounds = speculative_rounds(target, self._drafter(drafter, draft), ids, config)
            for _ in follow(rounds, spec, self.min_interval):
                yield race_record(prompt, settings, spec, target.pieces(spec.result.tokens), None, [])
            spec_pieces = target.pieces(spec.result.tokens)
            plain = LiveRun("autoregressive", ids)
            for _ in follow(autoregressive_rounds(target, ids, config), plain, self.min_interval):
                yield race_record(prompt, settings, spec, spec_pieces, plain, target.pieces(plain.result.tokens))

    def _race_view(self, record: dict | None, note: str | None = None) -> dict:
        spec = None if record is None else record["speculative"]
        plain = None if record is None else record["plain"]
        view = {
            "spec_html": render.tokens_html(spec["pieces"] if spec else [], spec["kinds"] if spec else [], t("waiting")),
            "plain_html": render.tokens_html(plain["pieces"] if plain else [], plain["kinds"] if plain else [],
                                             t("waiting")),
            "stats": render.stats_html(record),
            "race_plot": render.race_figure(record),
        }
        if note is not None:
            view["recorded_note"] = note
        return view

    @staticmethod
    def _remember(session: dict | None, record: dict) -> dict:
        """Return a new session value with this race appended to the visitor's table of runs."""
        runs = list((session or {}).get("runs", []))
        settings, spec, plain = record["settings"], record["speculative"], record["plain"]
        alpha = spec["acceptance_rate"]
        runs.append([record["prompt"][:40].replace("\n", " "), settings["drafter"], settings["k"], settings["temperature"],
                     round(spec["tokens_per_second"], 2), round(plain["tokens_per_second"], 2),
                     round(record["speedup"], 2), None if alpha is None else round(alpha, 3)])
        return {"runs": runs}

    # --- tune k ------------------------------------------------------------------------------------------

    def sweep(self, prompt: str, k_from: int, k_to: int, temperature: float, top_p: float, max_new_tokens: int,
              seed: int, drafter: str) -> Iterator[dict]:
        """Run plain decoding once, then speculative decoding for every k in the range, and plot the formula beside them."""
        prompt = self._prompt_text(prompt)
        if prompt is None:
            return
        k_from = self._clip("k", int(k_from), 1, LIMITS.k_max)
        k_to = self._clip("k", int(k_to), 1, LIMITS.k_max)
        if k_from > k_to:
            self.warn(t("k_range", k_from=k_from, k_to=k_to))
            k_from, k_to = k_to, k_from
        tokens = self._clip(t("max_new_tokens"), int(max_new_tokens), 1, LIMITS.sweep_max_new_tokens)
        config = GenerationConfig(max_new_tokens=tokens, temperature=float(temperature), top_p=float(top_p), seed=int(seed))
        ks = list(range(k_from, k_to + 1))
        points, results = [], []
        with self.models.use() as (target, draft):
            _, ids = self._encode(target, prompt)
            baseline = LiveRun("autoregressive", ids)
            for _ in follow(autoregressive_rounds(target, ids, config), baseline, self.min_interval):
                yield {"sweep_text": t("sweep_baseline", tokens=len(baseline.result.tokens))}
            for k in ks:
                run_config = GenerationConfig(**{**asdict(config), "k": k})
                live = LiveRun("speculative", ids, k)
                for _ in follow(speculative_rounds(target, self._drafter(drafter, draft), ids, run_config), live,
                                self.min_interval):
                    yield {"sweep_text": t("sweep_progress", k=k, tokens=len(live.result.tokens))}
                results.append(live.result)
                speedup = decode_seconds(baseline.result) / len(baseline.result.tokens) / (
                    decode_seconds(live.result) / len(live.result.tokens))
                points.append({"k": k, "speedup": speedup, "alpha": live.result.acceptance_rate or 0.0})
                theory = {**theory_curve(baseline.result, results, ks), "ks": ks}
                best = max(points, key=lambda point: point["speedup"])["k"]
                costs = ", ".join(f"{v:.2f}" for v in theory["verify_costs"])
                summary = t("sweep_summary", done=len(points), total=len(ks), alpha=theory["alpha"], cost_ratio=theory["cost_ratio"],
                            verify_costs=costs, best_k=best)
                yield {"sweep_plot": render.sweep_figure(points, theory), "sweep_text": summary}

    # --- compare domains ---------------------------------------------------------------------------------

    def compare_domains(self, k: int, max_new_tokens: int, drafter: str) -> Iterator[dict]:
        """Run every prompt of the domain suite, speculative then plain, with DEFAULTS' sampling settings."""
        tokens = self._clip(t("max_new_tokens"), int(max_new_tokens), 1, LIMITS.suite_max_new_tokens)
        config = GenerationConfig(**{**asdict(DEFAULTS), "k": self._clip("k", int(k), 1, LIMITS.k_max),
                                     "max_new_tokens": tokens})
        rows = []
        with self.models.use() as (target, draft):
            for number, prompt in enumerate(domains.SUITE, start=1):
                ids = target.encode(prompt.prompt)
                runs = {}
                for method in ("speculative", "autoregressive"):
                    live = runs[method] = LiveRun(method, ids, config.k)
                    rounds = (speculative_rounds(target, self._drafter(drafter, draft), ids, config)
                              if method == "speculative" else autoregressive_rounds(target, ids, config))
                    for _ in follow(rounds, live, self.min_interval):
                        yield {"domains_progress": t("domains_progress", number=number, total=len(domains.SUITE),
                                                     title=t(f"domain_title.{prompt.domain}"), method=method, tokens=len(live.result.tokens))}
                spec, plain = runs["speculative"].result, runs["autoregressive"].result
                rows.append(self._domain_row(prompt, spec.acceptance_rate, spec.tokens_per_second / plain.tokens_per_second))
                yield {"domains_plot": render.domains_figure(rows), "domains_text": self._why_text(rows, t("live_note")),
                       "domains_progress": t("domains_done", done=number, total=len(domains.SUITE))}

    @staticmethod
    def _domain_row(prompt: domains.DomainPrompt, alpha: float | None, speedup: float) -> dict:
        return {"domain": prompt.domain, "title": t(f"domain_title.{prompt.domain}"), "why": t(f"domain_why.{prompt.domain}"),
                "alpha": alpha, "speedup": speedup}

    @staticmethod
    def _why_text(rows: list[dict], note: str) -> str:
        ranked = sorted(rows, key=lambda row: -row["speedup"])
        lines = [t("why_line", title=row["title"], why=row["why"], speedup=f'{row["speedup"]:.2f}x',
                   alpha="-" if row["alpha"] is None else f'{row["alpha"]:.0%}') for row in ranked]
        return note + "\n\n" + "\n".join(f"- {line}" for line in lines)

    # --- check the distribution --------------------------------------------------------------------------

    def check_distribution(self, rule: str, k: int, temperature: float, draft_noise: float, trials: int,
                           seed: int) -> Iterator[dict]:
        """Sample a toy pair with plain and speculative decoding and test both against the exact law."""
        trials = self._clip(t("trials"), int(trials), 100, LIMITS.max_trials)
        yield from distribution.check(rule, int(k), float(temperature), float(draft_noise), trials, int(seed))

    # --- helpers -----------------------------------------------------------------------------------------

    def _prompt_text(self, prompt: str | None) -> str | None:
        if prompt is None or not prompt.strip():
            self.warn(t("empty_prompt"))
            return None
        if len(prompt) > LIMITS.max_prompt_chars:
            self.warn(t("trimmed_chars", chars=len(prompt), limit=LIMITS.max_prompt_chars))
            prompt = prompt[: LIMITS.max_prompt_chars]
        return prompt

    def _encode(self, target, prompt: str) -> tuple[str, list[int]]:
        """Encode the prompt through the chat template, after trimming the prompt itself to the token limit."""
        raw = target.encode(prompt, chat=False)
        if len(raw) > LIMITS.max_prompt_tokens:
            self.warn(t("trimmed_tokens", tokens=len(raw), limit=LIMITS.max_prompt_tokens))
            prompt = target.decode(raw[: LIMITS.max_prompt_tokens])
        return prompt, target.encode(prompt)

    def _clip(self, name: str, value: int, low: int, high: int) -> int:
        used = min(max(value, low), high)
        if used != value:
            self.warn(t("clipped", name=name, value=value, low=low, high=high, used=used))
        return used

    @staticmethod
    def _drafter(kind: str, draft) -> DraftModelDrafter | PromptLookupDrafter:
        if kind == PROMPT_LOOKUP:
            return PromptLookupDrafter()
        if kind == DRAFT_MODEL:
            return DraftModelDrafter(draft)
        raise ValueError(f"unknown drafter {kind!r}; choose {DRAFT_MODEL!r} or {PROMPT_LOOKUP!r}")
