"""Turn benchmark records into a markdown report and a plotly chart, and time model loads.

    write_reports(data, folder)  results.json's content -> results.md and speedups.html; returns the summary
    time_loads(target, draft)    seconds for a first load (fresh cache: fetch and convert) and a second load

Every number in the tables is a median over repetitions with [min, max] beside it. Speed-ups are medians of
per-repetition ratios against the plain run of the same repetition, not ratios of medians.

Left out: significance tests; with 3 repetitions the [min, max] range is the honest summary.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

from specdec_mini.bench import _rep_key, cell_key, pairwise_speedups, summarize
from specdec_mini.theory import expected_tokens_per_round

METHOD_ORDER = ["plain", "sd-draft", "sd-draft-conf", "sd-lookup", "hf-assisted", "hf-assisted-stock", "hf-assisted-conf",
                "hf-lookup"]


def _fmt(stats: dict, digits: int = 2, suffix: str = "") -> str:
    if stats["median"] is None:
        return "-"
    if stats["n"] == 1:
        return f"{stats['median']:.{digits}f}{suffix}"
    return f"{stats['median']:.{digits}f}{suffix} [{stats['min']:.{digits}f}-{stats['max']:.{digits}f}]"


def _order(key: tuple) -> tuple:
    prompt, temperature, method, k = key
    rank = METHOD_ORDER.index(method) if method in METHOD_ORDER else len(METHOD_ORDER)
    return temperature, prompt, rank, str(k)


def predicted_from_run(run: dict, plain: dict) -> float | None:
    """Predict a fixed-k run's decode speed-up from its alpha and the forward costs measured in the same repetition.

    c = (draft seconds per draft forward) / T1 and v = (target seconds per verification forward) / T1, where T1
    is the plain run's seconds per target forward. Each round with K drafted tokens is expected to commit
    (1 - alpha^(K+1)) / (1 - alpha) tokens at a cost of K * c + v.
    """
    alpha, rounds = run.get("acceptance_rate"), run.get("drafted_per_round")
    if rounds is None and run.get("draft_forwards"):
        # Older records and transformers runs lack per-round lengths; a draft model drafts one token per forward.
        rounds = [run["draft_forwards"] / run["target_forwards"]] * run["target_forwards"]
    if alpha is None or not rounds or not plain.get("target_forwards") or not run.get("target_forwards"):
        return None
    step = plain["target_seconds"] / plain["target_forwards"]
    c = run["draft_seconds"] / run["draft_forwards"] / step if run.get("draft_forwards") else 0.0
    v = run["target_seconds"] / run["target_forwards"] / step
    tokens = sum(expected_tokens_per_round(alpha, k) for k in rounds)
    return tokens / sum(k * c + v for k in rounds)


def cell_rows(runs: list[dict]) -> list[dict]:
    """Summarise each cell's measured runs in one row: medians, ranges and speed-ups."""
    measured = [r for r in runs if not r["warmup"]]
    plain = {_rep_key(r): r for r in measured if r["method"] == "plain"}
    for r in measured:
        # transformers' runs fold the first verification into the prefill, so only sd-* runs get a prediction.
        if r["method"].startswith("sd-") and _rep_key(r) in plain:
            r["predicted_from_run"] = predicted_from_run(r, plain[_rep_key(r)])
    speedups = pairwise_speedups(measured)
    decode_speedups = pairwise_speedups(measured, "decode_tokens_per_second")
    cells: dict[tuple, list[dict]] = {}
    for r in measured:
        if not r.get("superseded"):
            cells.setdefault(cell_key(r), []).append(r)
    rows = []
    for key in sorted(cells, key=_order):
        group = cells[key]
        column = lambda field: summarize([r.get(field) for r in group])  # noqa: E731
        seconds = sum(r["seconds"] for r in group)
        same = [r["identical_to_plain"] for r in group if r.get("identical_to_plain") is not None]
        chosen = [k for r in group for k in (r.get("chosen_k") or [])]
        rows.append({
            "prompt": key[0], "temperature": key[1], "method": key[2], "k": key[3],
            "tokens_per_second": column("tokens_per_second"),
            "speedup": summarize(speedups.get(key, [])),
            "decode_speedup": summarize(decode_speedups.get(key, [])),
            "predicted_decode_speedup": column("predicted_decode_speedup"),
            "predicted_from_run": column("predicted_from_run"),
            "acceptance_rate": column("acceptance_rate"),
            "tokens_per_target_forward": column("tokens_per_target_forward"),
            "split": {part: sum(r[f"{part}_seconds"] for r in group) / seconds
                      for part in ("prefill", "target", "draft", "other")} if seconds else None,
            "peak_rss_mb": column("peak_rss_mb"),
            "identical": f"{sum(same)}/{len(same)}" if same else "-",
            "mean_chosen_k": sum(chosen) / len(chosen) if chosen else None,
            "plain_rounds": sum(1 for k in chosen if k == 0),
        })
    return rows


def targets(rows: list[dict], load_times: dict | None) -> list[tuple[str, str, str]]:
    """List the project's speed targets next to the measured values: (target, measured, verdict)."""
    greedy = [r for r in rows if r["temperature"] == 0]
    found = []

    code = [r for r in greedy if r["prompt"] == "code-editing" and r["method"].startswith("sd-") and r["speedup"]["median"]]
    if code:
        best = max(code, key=lambda r: r["speedup"]["median"])
        found.append(("code-editing, greedy, best specdec_mini drafter >= 2.0x plain",
                      f"{best['speedup']['median']:.2f}x ({best['method']}, k={best['k']})",
                      _yes(best["speedup"]["median"] >= 2.0)))

    by_cell = {(r["prompt"], r["temperature"], r["method"], r["k"]): r for r in rows}
    # Ours against transformers with the same draft, and the int8 draft against transformers' float32 one.
    pairs = [("sd-draft", "hf-assisted"), ("sd-draft-int8", "hf-assisted"), ("sd-draft-int8", "hf-assisted-int8")]
    for ours, theirs in pairs:
        for r in rows:
            hf = by_cell.get((r["prompt"], r["temperature"], theirs, r["k"]))
            if r["method"] == ours and hf and hf["tokens_per_second"]["median"]:
                ratio = r["tokens_per_second"]["median"] / hf["tokens_per_second"]["median"]
                found.append((f"{ours} >= 1.2x {theirs}, {r['prompt']}, T={r['temperature']:g}, k={r['k']}",
                              f"{ratio:.2f}x", _yes(ratio >= 1.2)))

    for method in ("sd-draft", "sd-draft-int8", "sd-lookup"):
        auto = [r for r in greedy if r["method"] == method and r["k"] == "auto" and r["speedup"]["median"]]
        if auto:
            worst = min(auto, key=lambda r: r["speedup"]["median"])
            found.append((f"{method} k=auto, greedy: no prompt below 0.95x plain",
                          f"worst {worst['speedup']['median']:.2f}x ({worst['prompt']})",
                          _yes(worst["speedup"]["median"] >= 0.95)))

    errors = [(abs(r["decode_speedup"]["median"] / r["predicted_from_run"]["median"] - 1), r) for r in rows
              if r["predicted_from_run"]["median"] and r["decode_speedup"]["median"] and r["k"] != "auto"]
    if errors:
        within = sum(1 for e, _ in errors if e <= 0.05)
        worst_error, worst = max(errors, key=lambda pair: pair[0])
        found.append(("measured decode speed-up within 5% of the one predicted from alpha, c and v (fixed k)",
                      f"{within}/{len(errors)} cells; worst {worst_error:.0%} ({worst['prompt']}, {worst['method']}, "
                      f"T={worst['temperature']:g})", _yes(within == len(errors))))

    if load_times and load_times.get("first_seconds"):
        ratio = load_times["second_seconds"] / load_times["first_seconds"]
        found.append(("second load of the pair < 1/3 of the first load",
                      f"{load_times['second_seconds']:.0f} s vs {load_times['first_seconds']:.0f} s ({ratio:.2f})",
                      _yes(ratio < 1 / 3)))
    return found


def _yes(condition: bool) -> str:
    return "met" if condition else "missed"


def markdown(data: dict) -> str:
    rows = cell_rows(data["runs"])
    load_times = next((i["load_times"] for i in reversed(data["invocations"]) if "load_times" in i), None)
    lines = ["# Benchmark results", "", "Generated by `specdec-mini bench` from results.json; see BENCHMARKS.md for",
             "how to read it. Cells: median [min-max] over the measured repetitions (warm-up excluded).", ""]
    lines += ["## Targets", "", "| target | measured | |", "|---|---|---|"]
    lines += [f"| {name} | {value} | {verdict} |" for name, value, verdict in targets(rows, load_times)]
    for temperature in sorted({r["temperature"] for r in rows}):
        mode = "greedy" if temperature == 0 else f"sampling, T={temperature:g}"
        lines += ["", f"## {mode}", "",
                  "| prompt | method | k | tokens/s | speed-up | decode speed-up | predicted (run costs) "
                  "| predicted (load curve) | alpha | tokens/fwd | prefill/target/draft/other | peak RSS MB | same as plain |",
                  "|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
        for r in (r for r in rows if r["temperature"] == temperature):
            split = "/".join(f"{r['split'][p]:.0%}" for p in ("prefill", "target", "draft", "other")) if r["split"] else "-"
            if r["k"] == "auto":
                k = f"auto (mean {r['mean_chosen_k']:.1f}, {r['plain_rounds']} plain)"
            elif r["k"] is None:
                k = "-" if r["method"] == "plain" else "20 (default)"
            else:
                k = r["k"]
            lines.append(
                f"| {r['prompt']} | {r['method']} | {k} | {_fmt(r['tokens_per_second'])} | {_fmt(r['speedup'], suffix='x')} "
                f"| {_fmt(r['decode_speedup'], suffix='x')} | {_fmt(r['predicted_from_run'], suffix='x')} "
                f"| {_fmt(r['predicted_decode_speedup'], suffix='x')} "
                f"| {_fmt(r['acceptance_rate'])} | {_fmt(r['tokens_per_target_forward'])} | {split} "
                f"| {_fmt(r['peak_rss_mb'], 0)} | {r['identical']} |")
    lines += ["", "## Cost curves measured at load", ""]
    for invocation in data["invocations"]:
        for kind, curve in invocation.get("costs", {}).items():
            v = ", ".join(f"{s / curve['target_step']:.2f}" for s in curve["verify"])
            lines.append(f"- invocation {invocation['number']} ({kind}): target step {curve['target_step'] * 1e3:.0f} ms, "
                         f"draft step {curve['draft_step'] * 1e3:.0f} ms, v(1..{len(curve['verify'])}) = {v}")
    return "\n".join(lines) + "\n"


def chart(data: dict, path: Path) -> bool:
    """Write a grouped bar chart of speed-ups (median, min-max error bars); False if plotly is missing."""
    try:
        import plotly.graph_objects as go
        from plotly.subplots import make_subplots
    except ImportError:
        return False
    rows = [r for r in cell_rows(data["runs"]) if r["method"] != "plain" and r["speedup"]["median"]]
    temperatures = sorted({r["temperature"] for r in rows}) or [0.0]
    titles = ["greedy" if t == 0 else f"sampling, T={t:g}" for t in temperatures]
    figure = make_subplots(rows=len(temperatures), cols=1, subplot_titles=titles, shared_xaxes=False)
    for index, temperature in enumerate(temperatures, start=1):
        series: dict[str, list[dict]] = {}
        for r in rows:
            if r["temperature"] == temperature:
                series.setdefault(f"{r['method']} k={r['k'] if r['k'] is not None else 'default'}", []).append(r)
        for name, group in series.items():
            medians = [r["speedup"]["median"] for r in group]
            figure.add_trace(go.Bar(
                name=name, x=[r["prompt"] for r in group], y=medians, legendgroup=name, showlegend=index == 1,
                error_y={"type": "data", "symmetric": False,
                         "array": [r["speedup"]["max"] - m for r, m in zip(group, medians)],
                         "arrayminus": [m - r["speedup"]["min"] for r, m in zip(group, medians)]}), row=index, col=1)
        figure.add_hline(y=1.0, line_dash="dot", row=index, col=1)
        figure.update_yaxes(title_text="speed-up over plain decoding", row=index, col=1)
    figure.update_layout(barmode="group", height=420 * len(temperatures),
                         title="specdec-mini: tokens per second over plain decoding (median, min-max)")
    # The plotly.js library comes from its CDN, which keeps the file small; viewing it needs a network.
    figure.write_html(path, include_plotlyjs="cdn")
    return True


def write_reports(data: dict, folder: Path) -> str:
    """Write results.md and speedups.html into `folder`; return the targets table as text."""
    (folder / "results.md").write_text(markdown(data))
    chart(data, folder / "speedups.html")
    rows = cell_rows(data["runs"])
    load_times = next((i["load_times"] for i in reversed(data["invocations"]) if "load_times" in i), None)
    return "\n".join(f"{verdict:>6}  {name}: {value}" for name, value, verdict in targets(rows, load_times))


_LOAD_SCRIPT = """
import json, sys, time
from specdec_mini.models import CausalLM
start = time.perf_counter()
for name in sys.argv[1:]:
    CausalLM.load(name, progress=False)
print(json.dumps(time.perf_counter() - start))
"""


def time_loads(target: str, draft: str) -> dict:
    """Load the pair twice in fresh processes: first into an empty cache (fetch + convert), then again.

    The empty cache is a temporary $SPECDEC_MINI_CACHE, deleted afterwards. pip's own download cache still
    serves the wheels, so the first load measures assembling, hashing and converting, not the network.
    """
    with tempfile.TemporaryDirectory(prefix="specdec-load-") as cache:
        env = {**os.environ, "SPECDEC_MINI_CACHE": cache}
        times = []
        for _ in range(2):
            done = subprocess.run([sys.executable, "-c", _LOAD_SCRIPT, target, draft], env=env,
                                  capture_output=True, text=True, check=True)
            times.append(json.loads(done.stdout.strip().splitlines()[-1]))
    return {"first_seconds": times[0], "second_seconds": times[1], "models": [target, draft]}
