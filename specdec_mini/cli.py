"""The `specdec-mini` command: fetch models, generate with speculative decoding, benchmark, serve the demo.

    specdec-mini fetch                      download and verify the default draft/target pair
    specdec-mini generate "PROMPT" --compare
    specdec-mini generate --domain code-editing --k 4 --json
    specdec-mini generate --domain code-editing --k 4 --draft-weights float32 --compare
    specdec-mini bench --quick
    specdec-mini demo

All rendering lives here: the library returns rounds and results, and this module colours accepted draft
tokens, target corrections and bonus tokens (plain text when stdout is not a terminal). Defaults come from
`GenerationConfig`, so the command and the library cannot disagree. A user mistake exits with status 2 and
a one-line message, never a traceback.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import warnings
from dataclasses import replace

from specdec_mini import catalog, domains
from specdec_mini.decoding import MAX_K, GenerationConfig, autoregressive_generate, speculative_generate
from specdec_mini.drafters import DraftModelDrafter, PromptLookupDrafter
from specdec_mini.kernels import WEIGHT_FORMATS
from specdec_mini.models import CausalLM, DraftSizeWarning, check_compatible
from specdec_mini.stats import ACCEPTED, BONUS, CORRECTION, GenerationResult, speedup

DEFAULTS = GenerationConfig()
COLOURS = {ACCEPTED: "\033[32m", CORRECTION: "\033[31m", BONUS: "\033[34m"}  # green, red, blue
RESET = "\033[0m"


class UsageError(Exception):
    """A mistake in the command line that argparse cannot see (exit status 2)."""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="specdec-mini", description=__doc__.split("\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)

    fetch = commands.add_parser("fetch", help="download, assemble and verify models into the cache")
    fetch.add_argument("names", nargs="*", help=f"catalog names (default: {catalog.DEFAULT_TARGET} and "
                       f"{catalog.DEFAULT_DRAFT}); known: {', '.join(catalog.MODELS)}")
    fetch.add_argument("--refetch", action="store_true", help="download again even if a verified copy exists")
    fetch.add_argument("--convert", action="store_true", help="also load once to build the fast converted copy")

    gen = commands.add_parser("generate", help="generate text with speculative decoding")
    gen.add_argument("prompt", nargs="?", help="the prompt text (or use --domain)")
    gen.add_argument("--domain", choices=list(domains.BY_NAME), help="use a prompt of the domain suite")
    gen.add_argument("--target", default=catalog.DEFAULT_TARGET, help="target model: catalog name, GGUF file or folder")
    gen.add_argument("--draft", default=catalog.DEFAULT_DRAFT, help="draft model for --drafter model")
    gen.add_argument("--draft-weights", choices=list(WEIGHT_FORMATS), default="int8",
                     help="the draft's weights: int8 (default: about 3x faster drafting, the same output, "
                     "somewhat lower acceptance) or float32")
    gen.add_argument("--drafter", choices=["model", "prompt-lookup"], default="model",
                     help="who proposes tokens: a draft model or n-gram lookup in the context")
    gen.add_argument("--k", type=int, default=DEFAULTS.k, help=f"tokens drafted per round, 1-{MAX_K}")
    gen.add_argument("--max-new-tokens", type=int, default=DEFAULTS.max_new_tokens, help="new tokens at most")
    gen.add_argument("--temperature", type=float, default=DEFAULTS.temperature, help="0 = greedy")
    gen.add_argument("--top-k", type=int, default=DEFAULTS.top_k, help="keep the top-k tokens (default: all)")
    gen.add_argument("--top-p", type=float, default=DEFAULTS.top_p, help="nucleus mass in (0, 1]")
    gen.add_argument("--seed", type=int, default=DEFAULTS.seed, help="seed of the sampler's random generator")
    gen.add_argument("--compare", action="store_true", help="also run plain decoding and report the speed-up")
    gen.add_argument("--no-chat", action="store_true", help="feed the prompt as raw text, without the chat template")
    gen.add_argument("--json", action="store_true", help="print one JSON object instead of coloured text")
    gen.add_argument("--quiet", action="store_true", help="no progress bars while loading")

    bench = commands.add_parser("bench", help="run the benchmark matrix (see BENCHMARKS.md)")
    bench.add_argument("args", nargs=argparse.REMAINDER, help="options for specdec_mini.bench")

    demo = commands.add_parser("demo", help="start the Gradio demo on 127.0.0.1")
    demo.add_argument("--port", type=int, default=None,
                      help="port on 127.0.0.1 (default: $GRADIO_SERVER_PORT, else 7860)")
    return parser


def render(result: GenerationResult, pieces: list[str], colour: bool) -> str:
    """The generated text with each token coloured by how it was produced."""
    kinds = [kind for r in result.rounds for kind in r.kinds]
    if not colour:
        return "".join(pieces)
    return "".join(f"{COLOURS[kind]}{piece}{RESET}" if kind in COLOURS else piece for piece, kind in zip(pieces, kinds))


def run_generate(args: argparse.Namespace) -> int:
    if args.domain and args.prompt:
        raise UsageError("give either a prompt or --domain, not both")
    prompt = domains.get(args.domain).prompt if args.domain else args.prompt
    if prompt is None or not prompt.strip():
        raise UsageError('the prompt is empty; pass text, e.g. specdec-mini generate "def fib(n):", or --domain code-editing')
    config = GenerationConfig(
        max_new_tokens=args.max_new_tokens, k=args.k, temperature=args.temperature,
        top_k=args.top_k, top_p=args.top_p, seed=args.seed,
    )
    progress = not args.quiet and not args.json

    target = CausalLM.load(args.target, progress=progress)
    if args.drafter == "model":
        draft = CausalLM.load(args.draft, progress=progress, weights=args.draft_weights)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", DraftSizeWarning)
            check_compatible(target, draft)
        for warning in caught:
            print(f"warning: {warning.message}", file=sys.stderr)
        warnings.filterwarnings("ignore", category=DraftSizeWarning)  # printed once, because each generation checks again
        drafter = DraftModelDrafter(draft)
    else:
        drafter = PromptLookupDrafter()
    prompt_ids = target.encode(prompt, chat=not args.no_chat)

    if args.compare:
        # Warm up both paths first: the first forward passes after loading touch every weight page and
        # initialise kernels, which would otherwise be billed to whichever method runs first.
        warmup = replace(config, max_new_tokens=min(4, config.max_new_tokens))
        speculative_generate(target, drafter, prompt_ids, warmup)
        autoregressive_generate(target, prompt_ids, warmup)
    result = speculative_generate(target, drafter, prompt_ids, config)
    baseline = autoregressive_generate(target, prompt_ids, config) if args.compare else None
    pieces = target.pieces(result.tokens)

    report = {"text": result.text, **result.summary(), "prompt_tokens": len(prompt_ids),
              "target": args.target, "drafter": drafter.name, "temperature": config.temperature}
    if baseline is not None:
        report["baseline_text"] = baseline.text
        report["baseline_tokens_per_second"] = baseline.tokens_per_second
        report["speedup"] = speedup(result, baseline)
        report["identical_to_baseline"] = baseline.tokens == result.tokens if config.temperature == 0 else None
    if args.json:
        print(json.dumps(report, indent=2))
        return 0

    colour = sys.stdout.isatty() and "NO_COLOR" not in os.environ
    print(render(result, pieces, colour))
    print()
    if colour:
        print(f"legend: {COLOURS[ACCEPTED]}accepted draft{RESET}  {COLOURS[CORRECTION]}target correction{RESET}  "
              f"{COLOURS[BONUS]}bonus token{RESET}")
    alpha = "n/a" if result.acceptance_rate is None else f"{result.acceptance_rate:.1%}"
    print(f"{drafter.name}, k={config.k}: {len(result.tokens)} tokens in {result.seconds:.2f} s "
          f"({result.tokens_per_second:.2f} tokens/s)")
    print(f"acceptance rate {alpha}, {result.tokens_per_target_forward:.2f} tokens per target forward, "
          f"{result.target_forwards} target forwards, {result.draft_forwards} draft forwards")
    print(f"time: prefill {result.prefill_seconds:.2f} s, target {result.target_seconds:.2f} s, "
          f"draft {result.draft_seconds:.2f} s, other {result.other_seconds:.2f} s")
    if baseline is not None:
        same = report["identical_to_baseline"]
        verdict = "identical to plain decoding" if same else ("differs from plain decoding" if same is False
                                                                else "sampled, so not compared token by token")
        print(f"plain decoding: {baseline.tokens_per_second:.2f} tokens/s; speed-up {report['speedup']:.2f}x; "
              f"output {verdict}")
    return 0


def run_fetch(args: argparse.Namespace) -> int:
    names = args.names or [catalog.DEFAULT_TARGET, catalog.DEFAULT_DRAFT]
    for name in names:
        path = catalog.fetch(name, refetch=args.refetch)
        print(f"{name}: {path} (SHA-256 verified)")
        if args.convert:
            catalog.load(name)
            print(f"{name}: converted copy ready")
    return 0


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    if argv[:1] == ["bench"]:
        # argparse.REMAINDER rejects options that start with "--" (and eats --help), so "--" passes them on.
        argv = ["bench", "--", *argv[1:]]
    args = build_parser().parse_args(argv)
    try:
        if args.command == "generate":
            with warnings.catch_warnings():  # the filter that run_generate sets ends with the command
                return run_generate(args)
        if args.command == "fetch":
            return run_fetch(args)
        if args.command == "bench":
            from specdec_mini import bench

            return bench.main(args.args)
        if args.command == "demo":
            # The demo lives beside the package (demo/app.py), so a checkout's root must be importable.
            sys.path.insert(0, os.path.abspath(os.path.join(os.path.dirname(__file__), os.pardir)))
            from demo.app import main as demo_main  # type: ignore[import-not-found]

            return demo_main(port=args.port)
    except (ValueError, UsageError) as error:  # catalog.CatalogError is a ValueError too
        print(f"specdec-mini: error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("specdec-mini: interrupted", file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
