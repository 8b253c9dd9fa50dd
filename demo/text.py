"""Every sentence and label the demo shows, in English and German, in one place.

    t(key, **values)     the text for `key` in the current visitor's language, placeholders filled
    speaking(lang)       a `with` block in which t() returns text in `lang` ("en" or "de")
    language_of(header)  "de" or "en" from a browser's Accept-Language header

Two mechanisms share these tables. Labels that never change (tab names, slider labels, headings) reach the
browser through Gradio's `gr.I18n`, which picks the language from the browser's locale. Text built at run
time (status lines, tables, chart titles, warnings) is rendered on the server, so each event handler runs
inside `speaking(lang)`, with `lang` read from the request headers when the page loads.

Errors raised by the library itself stay English, as does everything outside the demo.
"""

from __future__ import annotations

import contextlib
import contextvars
from collections.abc import Iterator

from specdec_mini import domains

TEXT: dict[str, str] = {
    # page header and model status
    "title": "specdec-mini: speculative decoding, live",
    "intro": (
        "A small **draft model** guesses k tokens, the **target model** checks all of them in one forward pass "
        "and keeps the longest prefix it agrees with, plus one token of its own. The output follows the "
        "target's distribution p exactly; only the speed changes. Notation: p = target distribution, q = draft "
        "distribution, k = drafted tokens per round, alpha = acceptance rate."
    ),
    "models_line": "Target model: {target}. Draft model: {draft}. Defaults: {defaults}.",
    "int8_note": " with int8 weights (a draft step costs a third of a float32 one; the output is still the target's)",
    "defaults": "k = {k}, up to {max_new_tokens} new tokens, temperature {temperature} (0 = greedy), top-p {top_p}, seed {seed}",
    "limits_line": "Limits on this server: k from 1 to {k_max}, prompts up to {prompt_chars} characters and "
                   "{prompt_tokens} tokens, up to {max_new_tokens} new tokens. One run at a time; others wait in a queue.",
    "status_loading": "Loading the models, step {step} of {steps}: {message} ({seconds:.0f} s so far). "
                      "The first start of a fresh machine downloads and converts them (minutes); later starts take seconds.",
    "status_ready": "Models ready (loaded in {seconds:.1f} s).",
    "status_failed": "The models could not be loaded: {message}. Fix the cause and restart the demo.",
    "not_ready": "The models are not ready yet: {message}. The page says when they are.",
    # race tab
    "tab_race": "Race",
    "preset": "Preset prompt",
    "own_prompt": "Your own prompt",
    "prompt": "Prompt",
    "settings": "Settings",
    "k": "k (tokens drafted per round)",
    "temperature": "Temperature (0 = greedy)",
    "top_p": "Top-p (1 = off)",
    "max_new_tokens": "Max new tokens",
    "seed": "Seed",
    "drafter": "Drafter",
    "drafter_model": "Draft model",
    "drafter_lookup": "Prompt lookup (no second model)",
    "run_live": "Run live",
    "stop": "Stop",
    "plain_panel": "Plain decoding (target only)",
    "spec_panel": "Speculative decoding",
    "order_note": "The two runs take turns, speculative first, because both on 2 CPU cores at once would slow each "
                  "other down. Each side's clock starts with its own run.",
    "legend_accepted": "accepted draft token",
    "legend_correction": "target correction (draft rejected)",
    "legend_bonus": "bonus token (all drafts accepted)",
    "waiting": "waiting",
    "running": "running",
    "recorded_note": "Recorded on {when} on {machine}, {target} with {draft}. Press **Run live** to measure on this server.",
    "no_recording": "No recording for this preset yet: press **Run live**.",
    "live_note": "Measured live on this server.",
    "live_running": "Running live on this server: speculative decoding first, then plain decoding.",
    "live_done": "Measured live on this server: run {run} of your session (table below).",
    "stopped": "Stopped. Press the run button to start again.",
    "history": "Your runs in this session",
    "history_columns": "prompt|drafter|k|temperature|speculative tokens/s|plain tokens/s|speed-up|acceptance rate",
    # statistics
    "stat": "",
    "stat_plain": "plain",
    "stat_spec": "speculative",
    "tokens_per_second": "tokens per second",
    "speedup": "speed-up",
    "acceptance_rate": "acceptance rate",
    "tokens_per_forward": "tokens per target forward",
    "new_tokens": "new tokens",
    "forwards": "target / draft forward passes",
    "time_split": "prefill / target / draft / other seconds",
    "identical": "same tokens as plain decoding",
    "yes": "yes",
    "no": "no",
    "so_far": "so far",
    "race_chart": "Tokens committed over time",
    "seconds": "seconds",
    "tokens": "tokens",
    # tune k tab
    "tab_sweep": "Tune k",
    "sweep_intro": "Runs plain decoding once, then speculative decoding for each k on the prompt of the Race tab. "
                   "The dashed curve is the formula (1 - alpha^(k+1)) / (1 - alpha) / (k c + v(k+1)) with the measured "
                   "alpha, draft cost ratio c and verification cost v. Speed-ups here leave out the prefill, as the formula does.",
    "k_from": "k from",
    "k_to": "k to",
    "sweep_run": "Sweep k",
    "sweep_measured": "measured speed-up",
    "sweep_theory": "expected speed-up",
    "sweep_alpha": "acceptance rate",
    "sweep_chart": "Speed-up and acceptance rate against k",
    "sweep_summary": "{done} of {total} values of k measured. Measured alpha {alpha:.2f}, draft cost ratio c = {cost_ratio:.2f}, verification cost "
                     "v(n) = {verify_costs} (in units of one plain decoding step). Best measured k: {best_k}.",
    "sweep_baseline": "Measuring plain decoding first: {tokens} tokens.",
    "sweep_progress": "Measuring k = {k}: {tokens} tokens.",
    # domains tab
    "tab_domains": "Compare domains",
    "domains_intro": "Runs every prompt of the domain suite with the chosen k and drafter, speculative then plain.",
    "domains_run": "Run the suite",
    "domains_progress": "Domain {number} of {total}, {title}, {method}: {tokens} tokens.",
    "domains_done": "{done} of {total} domains done.",
    "domains_recorded": "Recorded with k = {k} ({when}). Press **Run the suite** to measure on this server.",
    "why_line": "**{title}**: acceptance rate {alpha}, speed-up {speedup}. {why}",
    # distribution tab
    "tab_check": "Check the distribution",
    "check_intro": "A toy target over {vocab} tokens (an explicit table of p) and a noisy copy as draft. Both decoders "
                   "sample {n_tokens} tokens many times; the bars show how often each output came up, the dots its exact "
                   "probability under the target. A correct verifier matches the dots; a broken one fails the test.",
    "rule": "Acceptance rule",
    "rule_correct": "correct: accept with min(1, p/q), else sample norm(max(0, p - q))",
    "rule_argmax": "argmax draft with the soft q in the ratio",
    "trials": "Samples per decoder",
    "toy_temperature": "Temperature",
    "draft_noise": "Draft noise (0 = draft equals target)",
    "check_run": "Sample and test",
    "check_chart": "Output frequencies against the exact target law",
    "exact_law": "exact law p",
    "check_row": "{name}, {samples} samples: chi-square p-value {p_value:.3g}, total variation {tv:.3f} (noise level {tv_noise:.3f}): {verdict}",
    "consistent": "consistent with the target law",
    "rejected": "**rejected: not the target law**",
    "outcome": "output tokens",
    "frequency": "frequency",
    # warnings
    "trimmed_chars": "The prompt had {chars} characters; the demo keeps the first {limit}.",
    "trimmed_tokens": "The prompt had {tokens} tokens; the demo keeps the first {limit}.",
    "clipped": "{name} was {value}; the demo allows {low} to {high}, so it uses {used}.",
    "k_range": "k from {k_from} is above k to {k_to}; the sweep uses k from {k_to} to {k_from}.",
    "empty_prompt": "The prompt is empty: choose a preset or type a prompt.",
    # the prompt suite: titles and the one-line reason, from specdec_mini.domains
    **{f"domain_title.{prompt.domain}": prompt.title for prompt in domains.SUITE},
    **{f"domain_why.{prompt.domain}": prompt.why for prompt in domains.SUITE},
}


TEXT_DE: dict[str, str] = {
    # page header and model status
    "title": "specdec-mini: spekulatives Decoding live",
    "intro": (
        "Ein kleines **Draft-Modell** rät k Token voraus, das **Zielmodell** prüft alle in einem einzigen "
        "Forward-Pass, behält das längste Präfix, dem es zustimmt, und hängt ein eigenes Token an. Die Ausgabe "
        "folgt exakt der Verteilung p des Zielmodells; nur die Geschwindigkeit ändert sich. Schreibweise: "
        "p = Verteilung des Zielmodells, q = Verteilung des Draft-Modells, k = vorgeschlagene Token pro Runde, "
        "alpha = Akzeptanzrate."
    ),
    "models_line": "Zielmodell: {target}. Draft-Modell: {draft}. Voreinstellungen: {defaults}.",
    "int8_note": " mit int8-Gewichten (ein Draft-Schritt kostet ein Drittel eines float32-Schritts; die Ausgabe "
    "bleibt die des Zielmodells)",
    "defaults": "k = {k}, höchstens {max_new_tokens} neue Token, Temperatur {temperature} (0 = greedy), "
                "Top-p {top_p}, Seed {seed}",
    "limits_line": "Grenzen auf diesem Server: k von 1 bis {k_max}, Prompts bis {prompt_chars} Zeichen und "
                   "{prompt_tokens} Token, höchstens {max_new_tokens} neue Token. Es läuft immer nur ein Lauf; "
                   "weitere warten in einer Warteschlange.",
    "status_loading": "Die Modelle werden geladen, Schritt {step} von {steps}: {message} (bisher {seconds:.0f} s). "
                      "Beim ersten Start auf einer neuen Maschine werden sie heruntergeladen und umgewandelt "
                      "(einige Minuten), spätere Starts dauern Sekunden.",
    "status_ready": "Modelle bereit (in {seconds:.1f} s geladen).",
    "status_failed": "Die Modelle ließen sich nicht laden: {message}. Beheben Sie die Ursache und starten Sie "
                     "die Demo neu.",
    "not_ready": "Die Modelle sind noch nicht bereit: {message}. Die Seite zeigt an, sobald sie es sind.",
    # race tab
    "tab_race": "Wettlauf",
    "preset": "Vorgegebener Prompt",
    "own_prompt": "Eigener Prompt",
    "prompt": "Prompt",
    "settings": "Einstellungen",
    "k": "k (vorgeschlagene Token pro Runde)",
    "temperature": "Temperatur (0 = greedy)",
    "top_p": "Top-p (1 = aus)",
    "max_new_tokens": "Höchstzahl neuer Token",
    "seed": "Seed",
    "drafter": "Drafter",
    "drafter_model": "Draft-Modell",
    "drafter_lookup": "Prompt-Lookup (ohne zweites Modell)",
    "run_live": "Live starten",
    "stop": "Stopp",
    "plain_panel": "Normales Decoding (nur Zielmodell)",
    "spec_panel": "Spekulatives Decoding",
    "order_note": "Die beiden Läufe wechseln sich ab, das spekulative zuerst: Gleichzeitig auf 2 CPU-Kernen würden "
                  "sie sich gegenseitig bremsen. Die Uhr jeder Seite beginnt mit ihrem eigenen Lauf.",
    "legend_accepted": "akzeptiertes Draft-Token",
    "legend_correction": "Korrektur des Zielmodells (Draft verworfen)",
    "legend_bonus": "Bonus-Token (alle Drafts akzeptiert)",
    "waiting": "wartet",
    "running": "läuft",
    "recorded_note": "Aufgezeichnet am {when} auf {machine}, {target} mit {draft}. Mit **Live starten** messen "
                     "Sie auf diesem Server.",
    "no_recording": "Für diesen Prompt gibt es noch keine Aufzeichnung: Drücken Sie **Live starten**.",
    "live_note": "Live auf diesem Server gemessen.",
    "live_running": "Läuft live auf diesem Server: zuerst spekulatives, dann normales Decoding.",
    "live_done": "Live auf diesem Server gemessen: Lauf {run} dieser Sitzung (Tabelle unten).",
    "stopped": "Angehalten. Mit dem Start-Knopf geht es wieder los.",
    "history": "Ihre Läufe in dieser Sitzung",
    "history_columns": "Prompt|Drafter|k|Temperatur|spekulativ Token/s|normal Token/s|Beschleunigung|Akzeptanzrate",
    # statistics
    "stat": "",
    "stat_plain": "normal",
    "stat_spec": "spekulativ",
    "tokens_per_second": "Token pro Sekunde",
    "speedup": "Beschleunigung",
    "acceptance_rate": "Akzeptanzrate",
    "tokens_per_forward": "Token pro Forward-Pass des Zielmodells",
    "new_tokens": "neue Token",
    "forwards": "Forward-Passes Zielmodell / Draft-Modell",
    "time_split": "Sekunden für Prefill / Zielmodell / Draft-Modell / Rest",
    "identical": "dieselben Token wie normales Decoding",
    "yes": "ja",
    "no": "nein",
    "so_far": "bisher",
    "race_chart": "Ausgegebene Token über die Zeit",
    "seconds": "Sekunden",
    "tokens": "Token",
    # tune k tab
    "tab_sweep": "k abstimmen",
    "sweep_intro": "Führt einmal normales Decoding aus und dann spekulatives Decoding für jedes k, mit dem Prompt "
                   "aus dem Reiter Wettlauf. Die gestrichelte Kurve ist die Formel (1 - alpha^(k+1)) / (1 - alpha) / "
                   "(k c + v(k+1)) mit der gemessenen Akzeptanzrate alpha, dem Kostenverhältnis c des Draft-Modells "
                   "und den Prüfkosten v. Wie die Formel lassen die Beschleunigungen hier das Prefill außen vor.",
    "k_from": "k von",
    "k_to": "k bis",
    "sweep_run": "k durchlaufen",
    "sweep_measured": "gemessene Beschleunigung",
    "sweep_theory": "erwartete Beschleunigung",
    "sweep_alpha": "Akzeptanzrate",
    "sweep_chart": "Beschleunigung und Akzeptanzrate in Abhängigkeit von k",
    "sweep_summary": "{done} von {total} Werten für k gemessen. Gemessene Akzeptanzrate {alpha:.2f}, "
                     "Kostenverhältnis des Draft-Modells c = {cost_ratio:.2f}, Prüfkosten v(n) = {verify_costs} "
                     "(in Einheiten eines normalen Decoding-Schritts). Bestes gemessenes k: {best_k}.",
    "sweep_baseline": "Zuerst wird normales Decoding gemessen: {tokens} Token.",
    "sweep_progress": "Messung für k = {k}: {tokens} Token.",
    # domains tab
    "tab_domains": "Domänen vergleichen",
    "domains_intro": "Führt jeden Prompt der Domänen-Suite mit dem gewählten k und Drafter aus, erst spekulativ, "
                     "dann normal.",
    "domains_run": "Suite starten",
    "domains_progress": "Domäne {number} von {total}, {title}, {method}: {tokens} Token.",
    "domains_done": "{done} von {total} Domänen fertig.",
    "domains_recorded": "Aufgezeichnet mit k = {k} ({when}). Mit **Suite starten** messen Sie auf diesem Server.",
    "why_line": "**{title}**: Akzeptanzrate {alpha}, Beschleunigung {speedup}. {why}",
    # distribution tab
    "tab_check": "Verteilung prüfen",
    "check_intro": "Ein Spielzeug-Zielmodell über {vocab} Token (p steht ausdrücklich in einer Tabelle) und eine "
                   "verrauschte Kopie davon als Draft-Modell. Beide Decoder ziehen viele Male {n_tokens} Token; die "
                   "Balken zeigen, wie oft jede Ausgabe vorkam, die Punkte ihre exakte Wahrscheinlichkeit unter dem "
                   "Zielmodell. Eine korrekte Prüfregel trifft die Punkte, eine fehlerhafte fällt durch den Test.",
    "rule": "Akzeptanzregel",
    "rule_correct": "korrekt: mit min(1, p/q) annehmen, sonst aus norm(max(0, p - q)) ziehen",
    "rule_argmax": "Argmax-Draft mit dem weichen q im Verhältnis",
    "trials": "Stichproben pro Decoder",
    "toy_temperature": "Temperatur",
    "draft_noise": "Rauschen des Draft-Modells (0 = Draft gleich Zielmodell)",
    "check_run": "Ziehen und testen",
    "check_chart": "Häufigkeiten der Ausgaben gegenüber der exakten Verteilung des Zielmodells",
    "exact_law": "exakte Verteilung p",
    "check_row": "{name}, {samples} Stichproben: Chi-Quadrat-p-Wert {p_value:.3g}, Totalvariation {tv:.3f} "
                 "(Rauschniveau {tv_noise:.3f}): {verdict}",
    "consistent": "mit der Verteilung des Zielmodells vereinbar",
    "rejected": "**abgelehnt: nicht die Verteilung des Zielmodells**",
    "outcome": "ausgegebene Token",
    "frequency": "Häufigkeit",
    # warnings
    "trimmed_chars": "Der Prompt hatte {chars} Zeichen; die Demo behält die ersten {limit}.",
    "trimmed_tokens": "Der Prompt hatte {tokens} Token; die Demo behält die ersten {limit}.",
    "clipped": "{name} war {value}; die Demo erlaubt {low} bis {high} und nimmt deshalb {used}.",
    "k_range": "k von ({k_from}) liegt über k bis ({k_to}); der Durchlauf nimmt k von {k_to} bis {k_from}.",
    "empty_prompt": "Der Prompt ist leer: Wählen Sie einen vorgegebenen Prompt oder schreiben Sie einen eigenen.",
    # the prompt suite
    "domain_title.code-completion": "Code vervollständigen",
    "domain_title.code-editing": "Code bearbeiten",
    "domain_title.json": "JSON / Boilerplate",
    "domain_title.math": "Mathematik",
    "domain_title.summarisation": "Zusammenfassung",
    "domain_title.creative-prose": "Freie Prosa",
    "domain_why.code-completion": "Code folgt fester Syntax und festen Mustern, daher sagt das Draft-Modell die "
                                  "meisten Token voraus, die auch das Zielmodell wählen würde.",
    "domain_why.code-editing": "Eine Änderung übernimmt den Großteil des Prompts, daher treffen sowohl ein "
                               "Draft-Modell als auch Prompt-Lookup lange Folgen.",
    "domain_why.json": "Schlüssel, Anführungszeichen und Klammern wiederholen sich in jedem Objekt, daher liegt "
                       "der Draft fast immer richtig.",
    "domain_why.math": "Zahlen und Rechenschritte sind vorhersehbar, sobald die Aufgabe steht, aber beim Rechnen "
                       "selbst stolpert das Draft-Modell.",
    "domain_why.summarisation": "Eine Zusammenfassung übernimmt Formulierungen der Quelle, was dem Draft-Modell "
                                "hilft, doch welche sie übernimmt, ist offen.",
    "domain_why.creative-prose": "Freie Prosa kann auf viele gute Arten weitergehen, daher wählen Draft- und "
                                 "Zielmodell oft verschiedene Wörter.",
}

TEXTS: dict[str, dict[str, str]] = {"en": TEXT, "de": TEXT_DE}
DEFAULT_LANGUAGE = "en"

_language: contextvars.ContextVar[str] = contextvars.ContextVar("demo_language", default=DEFAULT_LANGUAGE)


def t(key: str, **values) -> str:
    """Look up the text for `key` in the current language and fill its placeholders from `values`."""
    text = TEXTS[_language.get()][key]
    return text.format(**values) if values else text


@contextlib.contextmanager
def speaking(language: str) -> Iterator[None]:
    """Make t() return text in `language` inside the block; an unknown language falls back to English."""
    token = _language.set(language if language in TEXTS else DEFAULT_LANGUAGE)
    try:
        yield
    finally:
        _language.reset(token)


def language_of(accept_language: str | None) -> str:
    """Pick "de" or "en" from an Accept-Language header such as "de-DE,de;q=0.9,en;q=0.8".

    The highest-weighted language the demo has wins; without one, English.
    """
    ranked = []
    for position, part in enumerate((accept_language or "").split(",")):
        tag, _, params = part.strip().partition(";")
        weight = 1.0
        if params.strip().startswith("q="):
            try:
                weight = float(params.strip()[2:])
            except ValueError:
                weight = 0.0
        primary = tag.strip().lower().split("-")[0]
        if primary in TEXTS and weight > 0:
            ranked.append((-weight, position, primary))
    return min(ranked)[2] if ranked else DEFAULT_LANGUAGE


def static_keys() -> list[str]:
    """Keys whose text has no placeholders: those Gradio's I18n can translate in the browser as they are."""
    return [key for key, text in TEXT.items() if "{" not in text]
