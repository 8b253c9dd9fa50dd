"""Every sentence and label the demo shows, in one place, so that translations can be added beside them.

`t(key, **values)` fills the placeholders of `TEXT[key]`. A translation would add a second dict with the same
keys. Gradio's `gr.I18n(en=..., de=...)` translates static labels in the browser. Messages built at run
time (warnings, status lines, chart titles) need the visitor's language on the server side instead.
"""

from __future__ import annotations

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
}


def t(key: str, **values) -> str:
    """Look up the text for `key` and fill its placeholders from `values`."""
    return TEXT[key].format(**values) if values else TEXT[key]
