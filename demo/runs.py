"""Decoding runs as the page shows them: streamed round by round, then kept as small JSON-ready records.

`follow` consumes a round generator from `specdec_mini.decoding` and updates a `LiveRun` after every round,
so the page can redraw while the run goes on. It does the bookkeeping of `decoding.collect` (which only
returns at the end), keeps a timeline of (seconds, tokens) for the race chart, and stops the clock while
the page draws.

`run_record` and `race_record` turn finished runs into plain dicts. A live run and the recorded presets in
`demo/recorded/` produce the same dicts, so one set of render functions draws both.

`measured_verify_costs` and `theory_curve` feed `specdec_mini.theory.expected_speedup` with what the runs
measured: the acceptance rate alpha, the draft cost ratio c and the verification cost v(n).

Left out: repeated runs and confidence intervals (the benchmark harness does those).
"""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Iterator

from specdec_mini.stats import GenerationResult, Round, speedup
from specdec_mini.theory import expected_speedup


class LiveRun:
    """One decoding run in progress: the `GenerationResult` so far and when each round ended."""

    def __init__(self, method: str, prompt_ids: list[int], k: int | None = None) -> None:
        self.result = GenerationResult(method=method, prompt_ids=list(prompt_ids), k=k)
        self.kinds: list[str] = []  # per new token: "accepted", "correction", "bonus" or "target"
        self.timeline: list[tuple[float, int]] = [(0.0, 0)]  # (seconds of decoding so far, tokens so far)

    def add(self, round_: Round, seconds: float) -> None:
        """Append a round that took `seconds` of wall time to produce, prefill included for the first."""
        result = self.result
        if not result.rounds:
            # Everything before the first round's own work was prefill, as in decoding.collect.
            result.prefill_seconds = seconds - round_.seconds
        result.rounds.append(round_)
        result.tokens += round_.tokens
        result.stop = round_.stop
        result.seconds += seconds  # keeps tokens_per_second current while the run goes on
        self.kinds += round_.kinds
        self.timeline.append((result.seconds, len(result.tokens)))


def follow(rounds: Iterator[Round], live: LiveRun, min_interval: float) -> Iterator[LiveRun]:
    """Feed every round into `live`; yield it at most every `min_interval` seconds, and once at the end.

    The clock runs only while `rounds` computes. The time this generator spends suspended, while the page
    draws an update, is charged to neither method: plain decoding has more rounds, so it would pay more.
    Closing this generator closes `rounds` too, which stops the generation between two rounds.
    """
    last = float("-inf")
    pending = False
    try:
        while True:
            start = time.perf_counter()
            round_ = next(rounds, None)
            if round_ is None:
                break
            live.add(round_, time.perf_counter() - start)
            pending = True
            if time.perf_counter() - last >= min_interval:
                last = time.perf_counter()
                pending = False
                yield live
        if pending or not live.result.rounds:
            yield live
    finally:
        rounds.close()


def decode_seconds(result: GenerationResult) -> float:
    """Wall time after the prefill: what the speed-up formula of `specdec_mini.theory` models."""
    return max(result.seconds - result.prefill_seconds, 1e-9)


def run_record(live: LiveRun, pieces: list[str]) -> dict:
    """Convert a finished run to a JSON-ready dict: text pieces with their kinds, the timeline and the summary."""
    result = live.result
    return {
        **result.summary(),
        "text": "".join(pieces),
        "pieces": pieces,
        "kinds": live.kinds,
        "timeline": [[round(seconds, 3), tokens] for seconds, tokens in live.timeline],
        "decode_tokens_per_second": len(result.tokens) / decode_seconds(result),
    }


def race_record(prompt: str, settings: dict, spec: LiveRun, spec_pieces: list[str], plain: LiveRun | None,
                plain_pieces: list[str]) -> dict:
    """Combine both sides of one race; `plain` is None while only the speculative side has run."""
    record = {"prompt": prompt, "settings": settings, "speculative": run_record(spec, spec_pieces),
              "plain": None, "speedup": None, "identical": None}
    if plain is not None and plain.result.tokens:
        record["plain"] = run_record(plain, plain_pieces)
        record["speedup"] = speedup(spec.result, plain.result)
        finished = spec.result.stop is not None and plain.result.stop is not None
        if settings.get("temperature") == 0 and finished:
            # Greedy speculative decoding must reproduce plain greedy decoding token for token.
            record["identical"] = spec.result.tokens == plain.result.tokens
    return record


def measured_verify_costs(baseline: GenerationResult, runs: list[GenerationResult]) -> list[float]:
    """v(n) for n = 1 .. max fed tokens: the mean target forward over n tokens, in units of a 1-token forward.

    Plain decoding gives n = 1; a speculative round that drafted K tokens fed K + 1. A size no round used
    is interpolated linearly between its measured neighbours.
    """
    seconds: dict[int, list[float]] = defaultdict(list)
    for round_ in baseline.rounds:
        seconds[1].append(round_.target_seconds)
    for result in runs:
        for round_ in result.rounds:
            seconds[len(round_.drafted) + 1].append(round_.target_seconds)
    one_token = sum(seconds[1]) / len(seconds[1])
    measured = {n: sum(values) / len(values) / one_token for n, values in seconds.items()}

    table = []
    known = sorted(measured)
    for n in range(1, known[-1] + 1):
        if n in measured:
            table.append(measured[n])
            continue
        below = max(m for m in known if m < n)
        above = min(m for m in known if m > n)
        share = (n - below) / (above - below)
        table.append(measured[below] + share * (measured[above] - measured[below]))
    return table


def theory_curve(baseline: GenerationResult, runs: list[GenerationResult], ks: list[int]) -> dict:
    """Compute the expected speed-up at each k from the runs' pooled alpha, draft cost ratio c and verification costs."""
    accepted = sum(result.accepted for result in runs)
    checked = accepted + sum(result.rejected for result in runs)
    alpha = accepted / checked if checked else 0.0
    one_step = baseline.target_seconds / baseline.target_forwards
    draft_forwards = sum(result.draft_forwards for result in runs)
    # A draft step's cost relative to a target step; prompt lookup runs no model, so c = 0 there.
    draft_step = sum(result.draft_seconds for result in runs) / draft_forwards if draft_forwards else 0.0
    cost_ratio = draft_step / one_step
    verify_costs = measured_verify_costs(baseline, runs)
    return {
        "alpha": alpha,
        "cost_ratio": cost_ratio,
        "verify_costs": verify_costs,
        "speedup": [expected_speedup(alpha, k, cost_ratio, verify_costs) for k in ks],
    }
