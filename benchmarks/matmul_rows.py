"""Micro-benchmark: how a float32 linear layer's time grows with the number of input rows M.

A target forward over n tokens runs every linear layer with M = n rows, so this curve is v(n) for the
weights. It compares stock `torch.nn.functional.linear` with the oneDNN operator that
`specdec_mini.kernels` uses for M > 1, at the Qwen2.5-Coder-1.5B shapes (weight [out, in]):

    attention projection 1536 x 1536, MLP up/gate 8960 x 1536, MLP down 1536 x 8960, output layer 151936 x 1536

Usage: python benchmarks/matmul_rows.py [--threads N] [--json FILE]. Takes 1-3 minutes. Each time is the
fastest of several interleaved runs, since other work on a shared machine only ever adds time.
"""

import argparse
import json
import time

import torch
import torch.nn.functional as F

SHAPES = [(1536, 1536), (8960, 1536), (1536, 8960), (151936, 1536)]
ROWS = [1, 2, 3, 4, 5, 6, 8, 12, 16]


def fastest_ms(calls: dict, repeats: int) -> dict:
    """Run every call `repeats` times, interleaved, and return each one's fastest time in milliseconds."""
    for call in calls.values():
        call()
    best = {name: float("inf") for name in calls}
    for _ in range(repeats):
        for name, call in calls.items():
            start = time.perf_counter()
            call()
            best[name] = min(best[name], (time.perf_counter() - start) * 1e3)
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--threads", type=int, help="torch threads (default: PyTorch's choice)")
    parser.add_argument("--json", help="also write the numbers to this file")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    results = {"threads": torch.get_num_threads(), "torch": torch.__version__, "times_ms": {}}
    with torch.inference_mode():
        for out_features, in_features in SHAPES:
            weight = torch.randn(out_features, in_features)
            repeats = 4 if out_features > 100_000 else 12
            rows = {}
            for m in ROWS:
                x = torch.randn(m, in_features)
                rows[m] = fastest_ms({
                    "stock": lambda: F.linear(x, weight),
                    "onednn": lambda: torch.ops.mkldnn._linear_pointwise(x, weight, None, "none", [], ""),
                }, repeats)
            one_row = rows[1]["stock"]
            print(f"weight {out_features} x {in_features}, {results['threads']} threads: ms (x the 1-row stock time)")
            for kind in ("stock", "onednn"):
                cells = " ".join(f"{m}:{rows[m][kind]:.1f}({rows[m][kind] / one_row:.1f}x)" for m in ROWS)
                print(f"  {kind:6s} {cells}", flush=True)
            results["times_ms"][f"{out_features}x{in_features}"] = rows
    if args.json:
        with open(args.json, "w") as file:
            json.dump(results, file, indent=1)


if __name__ == "__main__":
    main()
