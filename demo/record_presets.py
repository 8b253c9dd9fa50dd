"""Record the Race tab's preset prompts once, so a visitor is shown a finished race before running anything.

    flock /tmp/specdec-qwen.lock python demo/record_presets.py            all six domains, default settings
    python demo/record_presets.py --domains code-editing --max-new-tokens 24

Each preset is raced exactly as the page races it (`DemoLogic.race_records`: speculative, then plain) with
the default target/draft pair and `GenerationConfig`'s defaults, and the finished records go to
`demo/recorded/presets.json` together with when, where and with which models they were made. The page
labels them as recorded and offers to run them live.

Left out: repeated measurements; one run per preset is what a visitor's own click gives too.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import sys
from dataclasses import replace
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from specdec_mini import domains  # noqa: E402
from specdec_mini.decoding import GenerationConfig  # noqa: E402

RECORDINGS = Path(__file__).resolve().parent / "recorded" / "presets.json"


def load_recordings(path: Path = RECORDINGS) -> dict:
    """Load the recorded races by domain plus their metadata; empty when nothing was recorded yet."""
    if not path.exists():
        return {"meta": {}, "races": {}}
    return json.loads(path.read_text(encoding="utf-8"))


def machine_description(load_average: float) -> str:
    """Describe this machine in a few words for the 'recorded on' note."""
    import torch

    # Other processes on the same cores slow both runs, not always by the same factor, so the note says how busy
    # the machine was: the mean of the 1-minute load average before and after the recording.
    return (f"{os.cpu_count()} CPU cores ({platform.machine()}, {platform.system()}, torch {torch.__version__}, "
            f"1-minute load average about {load_average:.1f})")


def record(logic, presets: list[str], config: GenerationConfig, drafter: str) -> dict:
    """Race every preset with one configuration and return the recordings, metadata included."""
    races = {}
    load_before = os.getloadavg()[0]
    for domain in presets:
        final = None
        for final in logic.race_records(domains.get(domain).prompt, config, drafter):
            pass
        races[domain] = final
    meta = {
        "recorded_at": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "machine": machine_description((load_before + os.getloadavg()[0]) / 2),
        "target": logic.models.target_name,
        "draft": logic.models.draft_name,
        "draft_weights": getattr(logic.models, "draft_weights", None) or "float32",
    }
    return {"meta": meta, "races": races}


def main(argv: list[str] | None = None) -> int:
    from demo.engine import SharedModels
    from demo.logic import DRAFT_MODEL, DemoLogic

    defaults = GenerationConfig()
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--domains", nargs="+", choices=list(domains.BY_NAME), default=list(domains.BY_NAME),
                        help="presets to record (default: all six)")
    parser.add_argument("--max-new-tokens", type=int, default=defaults.max_new_tokens, help="new tokens per run")
    parser.add_argument("--k", type=int, default=defaults.k, help="tokens drafted per round")
    parser.add_argument("--out", type=Path, default=RECORDINGS, help=f"output file (default {RECORDINGS})")
    args = parser.parse_args(argv)

    models = SharedModels.from_environment()
    print(f"loading {models.target_name} and {models.draft_name} ...", flush=True)
    if not models.wait():
        print(f"record_presets: error: {models.status().message}", file=sys.stderr)
        return 1
    print(f"models ready after {models.status().seconds:.1f} s", flush=True)

    config = replace(defaults, max_new_tokens=args.max_new_tokens, k=args.k)
    logic = DemoLogic(models, warn=lambda message: print(f"warning: {message}", file=sys.stderr))
    recordings = record(logic, args.domains, config, DRAFT_MODEL)
    for domain, race in recordings["races"].items():
        spec, plain = race["speculative"], race["plain"]
        print(f"{domain:16} speculative {spec['tokens_per_second']:.2f} tokens/s, plain {plain['tokens_per_second']:.2f} "
              f"tokens/s, speed-up {race['speedup']:.2f}x, acceptance rate {spec['acceptance_rate']:.2f}")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(recordings, indent=1) + "\n", encoding="utf-8")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
