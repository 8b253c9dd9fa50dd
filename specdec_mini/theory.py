"""Expected gains of speculative decoding, from the acceptance rate and the cost of forward passes.

With per-token acceptance probability alpha, a round of k drafted tokens commits on average

    E[tokens per round] = (1 - alpha^(k+1)) / (1 - alpha)          (k + 1 when alpha = 1)

because drafted token i survives with probability alpha^i and one more token (correction or bonus) always
comes from the target. A round costs k draft steps plus one target forward over k+1 tokens. Measuring both in
units of one plain decoding step T1:

    speed-up(k) = E[tokens per round] / (k * c + v(k + 1))

where c = (draft step) / T1 and v(n) = (target forward over n tokens) / T1. Leviathan et al. (2022) assume
v(n) = 1, which is close on memory-bound accelerators. On a 2-core CPU v(5) is about 2.5, and that term is
usually what decides whether speculation pays, so every function here accepts a measured v.

For the acceptance rate itself: alpha = sum_x min(p(x), q(x)) = 1 - TV(p, q) is the probability that one
drafted token survives, averaged over what the draft proposes.

Left out: tree drafts and acceptance that varies along the draft; alpha is one number here.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch

VerifyCost = Callable[[int], float] | Sequence[float] | None


def alpha(p: torch.Tensor, q: torch.Tensor) -> torch.Tensor:
    """Acceptance probability of one drafted token, sum(min(p, q)): [..., V], [..., V] -> [...]."""
    return torch.minimum(p, q).sum(dim=-1)


def expected_tokens_per_round(alpha: float, k: int) -> float:
    """(1 - alpha^(k+1)) / (1 - alpha): the mean number of tokens one round commits."""
    if not 0.0 <= alpha <= 1.0:
        raise ValueError(f"alpha must lie in [0, 1], got {alpha}")
    if alpha == 1.0:
        return k + 1.0
    return (1.0 - alpha ** (k + 1)) / (1.0 - alpha)


def verify_cost_at(verify_cost: VerifyCost, tokens: int) -> float:
    """v(n): a target forward over n tokens in units of a 1-token forward; None means v(n) = 1."""
    if verify_cost is None:
        return 1.0
    if callable(verify_cost):
        return float(verify_cost(tokens))
    # A measured table: verify_cost[n - 1] is the cost of n tokens; beyond its end, extrapolate linearly.
    table = list(verify_cost)
    if tokens <= len(table):
        return float(table[tokens - 1])
    slope = table[-1] - table[-2] if len(table) > 1 else 0.0
    return float(table[-1] + slope * (tokens - len(table)))


def expected_speedup(alpha: float, k: int, cost_ratio: float, verify_cost: VerifyCost = None) -> float:
    """Expected time per token of plain decoding over that of speculative decoding with draft length k.

    cost_ratio c is (one draft step) / (one target step). k = 0 is plain decoding and returns 1.0.
    """
    if k == 0:
        return 1.0
    round_cost = k * cost_ratio + verify_cost_at(verify_cost, k + 1)
    return expected_tokens_per_round(alpha, k) / round_cost


def best_k(alpha: float, cost_ratio: float, verify_cost: VerifyCost = None, k_max: int = 16) -> tuple[int, float]:
    """Return the draft length in 0..k_max with the highest expected speed-up, and that speed-up (k = 0: plain)."""
    scores = [(expected_speedup(alpha, k, cost_ratio, verify_cost), k) for k in range(k_max + 1)]
    speed, k = max(scores)
    return k, speed


def predicted_speedup_from_run(
    acceptance_rate: float, k: int, draft_step_seconds: float, target_step_seconds: float, verify_seconds: float
) -> float:
    """Predict the speed-up from one run's measured alpha and the measured costs in seconds."""
    c = draft_step_seconds / target_step_seconds
    v = verify_seconds / target_step_seconds
    return expected_speedup(acceptance_rate, k, c, lambda n: v)
