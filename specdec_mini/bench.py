"""The benchmark harness: prompt suite x methods x k x greedy/sampling, measured so that ratios can be trusted.

    specdec-mini bench --quick                       a few minutes: 2 prompts, plain vs sd-draft, k = 4
    specdec-mini bench --prompts code-editing --merge   one prompt, merged into benchmarks/results.json

Measurement rules, each one a defence against a specific error:
- one warm-up pass of every cell (shorter, excluded, recorded with warmup=True): first calls allocate
  buffers and pick kernels;
- fresh caches and a fresh drafter for every run, so that no run starts with another's work done;
- cells interleaved (A B C A B C ...), so that drift of a shared machine hits every method alike;
- at least 3 repetitions, reported as median [min, max];
- speed-ups pair by pair against the plain-decoding run of the same repetition, then summarised.

`run_matrix` returns records and reports progress through a callback; `main` prints. Method definitions and
single runs live in `bench_runs`, tables and charts in `bench_report`. BENCHMARKS.md explains the results.

Left out: batch sizes above 1, and other processes' load, which is recorded (load average) but not removed.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from specdec_mini import catalog, domains
from specdec_mini.autok import CostCurve, measure_costs, measure_draft_step
from specdec_mini.bench_runs import METHODS, Models, draft_costs_key, run

DEFAULT_OUT = "benchmarks"
SAMPLING_TEMPERATURE = 0.7
WARMUP_TOKENS = 8  # a warm-up only has to touch every code path once


@dataclass(frozen=True)
class Cell:
    """One (prompt, temperature, method, k) combination of the matrix."""

    prompt: str  # domain name
    temperature: float
    method: str
    k: int | str | None  # an int, "auto", or None for methods without a k


@dataclass
class Progress:
    """Progress report that `run_matrix` passes to its callback after every run."""

    done: int
    total: int
    elapsed: float  # seconds since the matrix started
    remaining: float  # estimate, seconds
    message: str


def build_cells(prompts: list[str], temperatures: list[float], methods: list[str], ks: list) -> list[Cell]:
    """Expand the matrix; "plain" always comes first, because every speed-up needs it."""
    names = ["plain"] + [m for m in methods if m != "plain"]
    cells = []
    for prompt in prompts:
        for temperature in temperatures:
            for name in names:
                method = METHODS[name]
                if not method.takes_k:
                    cells.append(Cell(prompt, temperature, name, None))
                    continue
                for k in ks:
                    if k != "auto" or method.auto_k:
                        cells.append(Cell(prompt, temperature, name, k))
    return cells


def run_matrix(models: Models, prompt_ids: dict[str, list[int]], cells: list[Cell], reps: int, warmup: int,
               max_new_tokens: int, on_progress: Callable[[Progress], None] | None = None,
               on_repetition: Callable[[list[dict]], None] | None = None) -> list[dict]:
    """Run every cell warmup + reps times, interleaved, and return one record per run.

    `on_repetition` sees all records so far after each complete repetition, so a caller can save them and
    keep the finished repetitions of a run that is stopped early.
    """
    total = len(cells) * (warmup + reps)
    records: list[dict] = []
    durations: dict[tuple[Cell, bool], list[float]] = {}
    start = time.perf_counter()
    for rep in range(warmup + reps):
        is_warmup = rep < warmup
        for cell in cells:
            began = time.perf_counter()
            record = run(METHODS[cell.method], cell.k, models, prompt_ids[cell.prompt], cell.temperature,
                         WARMUP_TOKENS if is_warmup else max_new_tokens, seed=rep)
            record.update(prompt=cell.prompt, rep=rep - warmup, warmup=is_warmup)
            records.append(record)
            durations.setdefault((cell, is_warmup), []).append(time.perf_counter() - began)
            if on_progress is not None:
                done = len(records)
                on_progress(Progress(done, total, time.perf_counter() - start,
                                     _remaining(cells, durations, rep, cell, warmup, reps),
                                     f"{cell.prompt} T={cell.temperature:g} {cell.method} k={cell.k}: "
                                     f"{record['tokens_per_second']:.2f} tok/s"))
        if on_repetition is not None and not is_warmup:
            on_repetition(records)
    return records


def _remaining(cells, durations, rep, current, warmup, reps) -> float:
    # Every cell's measured runs take about as long as its last measured run (its warm-up if none yet).
    # A cell not yet run is guessed at the mean of all measured runs so far.
    everything = [d for (_, warm), runs in durations.items() if not warm for d in runs]
    fallback = statistics.mean(everything or [d for runs in durations.values() for d in runs])

    def expected(cell: Cell) -> float:
        return statistics.mean(durations.get((cell, False)) or [fallback])

    left_this_rep = cells[cells.index(current) + 1:]
    return sum(expected(c) for c in left_this_rep) + (warmup + reps - rep - 1) * sum(expected(c) for c in cells)


# --- statistics ------------------------------------------------------------------------------------------

def summarize(values: list[float]) -> dict:
    """Median, min, max and count of a list of numbers (None values are ignored; empty -> None fields)."""
    values = [v for v in values if v is not None]
    if not values:
        return {"median": None, "min": None, "max": None, "n": 0}
    return {"median": statistics.median(values), "min": min(values), "max": max(values), "n": len(values)}


def pairwise_speedups(records: list[dict], field: str = "tokens_per_second") -> dict[tuple, list[float]]:
    """Speed-up of every measured run over the plain run of the same invocation, prompt, temperature and rep.

    Returns {(prompt, temperature, method, k): [ratio per rep]}; warm-up runs are skipped.
    """
    baselines = {_rep_key(r): r[field] for r in records if r["method"] == "plain" and not r["warmup"]}
    ratios: dict[tuple, list[float]] = {}
    for r in records:
        base = baselines.get(_rep_key(r))
        if r["warmup"] or not base:
            continue
        ratios.setdefault(cell_key(r), []).append(r[field] / base)
    return ratios


def _rep_key(record: dict) -> tuple:
    return record.get("invocation", 0), record["prompt"], record["temperature"], record["rep"]


def cell_key(record: dict) -> tuple:
    return record["prompt"], record["temperature"], record["method"], record["k"]


def mark_identical(records: list[dict]) -> None:
    """For greedy runs, record whether the tokens equal those of plain decoding in the same repetition."""
    baselines = {_rep_key(r): r["tokens"] for r in records if r["method"] == "plain"}
    for r in records:
        base = baselines.get(_rep_key(r))
        r["identical_to_plain"] = (r["tokens"] == base) if r["temperature"] == 0 and base is not None else None


# --- the command -----------------------------------------------------------------------------------------

def machine_info() -> dict:
    """Collect what a reader needs to judge the numbers: CPU, cores, threads, library versions."""
    import torch
    import transformers

    cpu = "unknown"
    try:
        with open("/proc/cpuinfo") as info:
            cpu = next((line.split(":", 1)[1].strip() for line in info if line.startswith("model name")), cpu)
    except OSError:
        pass
    from specdec_mini.kernels import onednn_available

    return {"cpu": cpu, "cores": os.cpu_count(), "torch_threads": torch.get_num_threads(),
            "torch": torch.__version__, "transformers": transformers.__version__, "python": platform.python_version(),
            "onednn_linear": onednn_available()}


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    if argv and argv[0] == "--":  # the separator that cli.py puts before bench's own options
        argv = argv[1:]
    parser = argparse.ArgumentParser(prog="specdec-mini bench", description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true",
                        help="small matrix: 2 prompts, plain and sd-draft, k=4, 16 tokens, 1 warm-up + 2 reps")
    parser.add_argument("--prompts", nargs="+", choices=list(domains.BY_NAME), help="domains (default: all six)")
    parser.add_argument("--methods", nargs="+", choices=list(METHODS), help="methods (plain is always run)")
    parser.add_argument("--k", nargs="+", default=None, help="draft lengths: integers and/or 'auto' (default: 4 auto)")
    parser.add_argument("--temperatures", nargs="+", type=float, help="0 = greedy (default: 0 and 0.7)")
    parser.add_argument("--max-new-tokens", type=int, help="new tokens per run (default 64; 16 with --quick)")
    parser.add_argument("--reps", type=int, help="measured repetitions per cell, at least 1 (default 3)")
    parser.add_argument("--warmup", type=int, default=1, help="warm-up passes, excluded from results (default 1)")
    parser.add_argument("--target", default=catalog.DEFAULT_TARGET, help="target model (catalog name, file or folder)")
    parser.add_argument("--draft", default=catalog.DEFAULT_DRAFT, help="draft model for the *-draft and hf-assisted methods")
    parser.add_argument("--out", default=DEFAULT_OUT, help=f"folder for results.json, results.md, speedups.html (default {DEFAULT_OUT})")
    parser.add_argument("--merge", action="store_true", help="add to the results already in --out instead of replacing them")
    parser.add_argument("--cost-tokens", type=int, default=16, help="measure target forwards over 1..N tokens at load (default 16)")
    parser.add_argument("--load-times", action="store_true", help="only time a first load (fresh cache) and a second load of the pair")
    parser.add_argument("--no-progress", action="store_true", help="print nothing while running")
    args = parser.parse_args(argv)

    quick = args.quick
    args.prompts = args.prompts or (["code-editing", "creative-prose"] if quick else [p.domain for p in domains.SUITE])
    args.methods = args.methods or (["plain", "sd-draft"] if quick else
                                    ["plain", "sd-draft", "sd-draft-int8", "sd-lookup", "hf-assisted",
                                     "hf-assisted-int8", "hf-lookup"])
    ks = args.k or (["4"] if quick else ["4", "auto"])
    args.k = [k if k == "auto" else _int_k(k) for k in ks]
    args.temperatures = args.temperatures or ([0.0] if quick else [0.0, SAMPLING_TEMPERATURE])
    args.max_new_tokens = args.max_new_tokens or (16 if quick else 64)
    args.reps = args.reps or (2 if quick else 3)
    if args.reps < 1 or args.warmup < 0:
        parser.error(f"--reps must be >= 1 and --warmup >= 0, got {args.reps} and {args.warmup}")
    return args


def _int_k(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise SystemExit(f"specdec-mini bench: error: --k takes integers or 'auto', got {text!r}") from None


def load_models(args: argparse.Namespace, prompt_ids: Callable, say: Callable[[str], None]) -> Models:
    """Load the target (and draft if any method needs one), and measure the cost curves on the first prompt."""
    from specdec_mini.models import CausalLM

    started = time.perf_counter()
    target = CausalLM.load(args.target, progress=not args.no_progress)
    formats = {METHODS[m].draft_weights for m in args.methods if METHODS[m].drafter == "model"}
    drafts = {}
    for weights in sorted(formats):
        drafts[weights] = CausalLM.load(args.draft, progress=not args.no_progress, weights=weights)
    say(f"loaded {args.target}" + "".join(f" and {d.name}" for d in drafts.values())
        + f" in {time.perf_counter() - started:.1f} s")

    ids = prompt_ids(target)[args.prompts[0]]
    tokens = min(args.cost_tokens, len(ids) - 1)
    curve = measure_costs(target, None, ids, max_tokens=tokens)
    costs = {"lookup": curve}  # prompt lookup drafts for free: c = 0
    for weights, draft in drafts.items():
        draft_step = measure_draft_step(draft, ids, max_tokens=tokens)
        costs[draft_costs_key(weights)] = CostCurve(curve.target_step, draft_step, curve.verify)
    verify = ", ".join(f"{v:.2f}" for v in curve.verify_table)
    steps = "".join(f"; {key} draft step {c.draft_step * 1e3:.0f} ms (c = {c.cost_ratio:.2f})"
                    for key, c in costs.items() if key != "lookup")
    say(f"cost curve: target step {curve.target_step * 1e3:.0f} ms, v(1..{tokens}) = {verify}{steps}")
    return Models(target, drafts.get("float32"), costs, draft_int8=drafts.get("int8"))


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    say = (lambda text: None) if args.no_progress else (lambda text: print(text, flush=True))
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    if args.load_times:
        from specdec_mini.bench_report import time_loads

        result = time_loads(args.target, args.draft)
        say(json.dumps(result, indent=2))
        _save(out, args, {"load_times": result}, [])
        return 0

    def encode_all(target) -> dict[str, list[int]]:
        return {name: target.encode(domains.get(name).prompt) for name in args.prompts}

    models = load_models(args, encode_all, say)
    prompt_ids = encode_all(models.target)
    cells = build_cells(args.prompts, args.temperatures, args.methods, args.k)
    say(f"{len(cells)} cells x ({args.warmup} warm-up + {args.reps} reps), {args.max_new_tokens} new tokens each")

    def show(p: Progress) -> None:
        say(f"[{p.done}/{p.total}] {p.message} | elapsed {p.elapsed / 60:.1f} min, about {p.remaining / 60:.1f} min left")

    costs = {kind: {"target_step": c.target_step, "draft_step": c.draft_step, "verify": list(c.verify)}
             for kind, c in models.costs.items()}
    invocation = {"costs": costs}
    saved = {"number": None, "summary": ""}

    # Save after every repetition: a chunk stopped by a time limit keeps the repetitions it finished.
    def checkpoint(records: list[dict]) -> None:
        saved["number"], saved["summary"] = _save(out, args, invocation, [dict(r) for r in records], saved["number"])

    run_matrix(models, prompt_ids, cells, args.reps, args.warmup, args.max_new_tokens, show, checkpoint)
    say(saved["summary"])
    return 0


def _save(out: Path, args: argparse.Namespace, invocation: dict, records: list[dict],
          number: int | None = None) -> tuple[int, str]:
    """Merge this invocation into results.json (or replace it), rewrite results.md and speedups.html.

    With `number`, the invocation was saved before and its runs are replaced by `records`.
    Returns the invocation's number and the targets summary.
    """
    from specdec_mini import bench_report

    path = out / "results.json"
    keep = (args.merge or number is not None) and path.exists()
    data = json.loads(path.read_text()) if keep else {"invocations": [], "runs": []}
    if number is None:
        number = len(data["invocations"])
        invocation.update(number=number, argv=sys.argv[1:],
                          started=datetime.now(timezone.utc).isoformat(timespec="seconds"),
                          machine=machine_info(), max_new_tokens=args.max_new_tokens, target=args.target,
                          draft=args.draft)
        data["invocations"].append(invocation)
    else:
        data["runs"] = [r for r in data["runs"] if r.get("invocation") != number]
    if records:
        mark_identical(records)
        for record in records:
            record["invocation"] = number
        data["runs"] = _replace_cells(data["runs"], records)
    path.write_text(json.dumps(data, indent=1))
    return number, bench_report.write_reports(data, out)


def _replace_cells(old: list[dict], new: list[dict]) -> list[dict]:
    """Drop older runs of the cells measured again, but keep an older plain run while it is some run's baseline."""
    fresh = {cell_key(r) for r in new}
    kept = [r for r in old if cell_key(r) not in fresh]
    referenced = {_rep_key(r) for r in kept if r["method"] != "plain"}
    for r in old:
        if r["method"] == "plain" and cell_key(r) in fresh and _rep_key(r) in referenced:
            kept.append({**r, "superseded": True})  # a baseline only: the tables show the newer plain runs
    return kept + new
