"""Choosing k for each round: a draft length that pays for itself on this machine.

`theory.expected_speedup(alpha, k, c, v)` computes what a draft length k gains, given the acceptance rate alpha,
the cost c of a draft step and the cost v(n) of a target forward over n tokens, both in units of a one-token
target forward. The best fixed k depends on all three: alpha changes from prompt to prompt and within one
reply, and c and v depend on the machine. So this module

    measure_costs   times a draft step and target forwards over 1..n tokens once, at load  -> CostCurve
    AdaptiveK       keeps running estimates of alpha and of how far this run's costs are from the curve,
                    and before every round picks the k in 0..k_max with the highest expected speed-up;
                    k = 0 is a plain decoding step, for when no k pays

`AdaptiveK` plugs into `speculative_rounds(..., draft_length=AdaptiveK(...))`. Since it only looks at past
rounds, the output keeps the target's law (greedy output stays the plain greedy output).

`predicted_speedup(result, costs)` applies the same formula after the fact, to check it against a run.

Left out: acceptance that falls along the draft (alpha is one number per round), costs that change with
the context length (one factor per kind of round), and the draft model's own confidence as a signal
(`DraftModelDrafter(min_confidence=...)` covers that separately).
"""

from __future__ import annotations

import statistics
import time
from dataclasses import dataclass

from specdec_mini.stats import GenerationResult, Round
from specdec_mini.theory import best_k, expected_tokens_per_round


@dataclass(frozen=True)
class CostCurve:
    """Measured seconds of the forward passes on this machine."""

    target_step: float  # one target forward over 1 token (a plain decoding step)
    draft_step: float  # one draft forward over 1 token; 0 for a drafter without a model
    verify: tuple[float, ...]  # verify[n - 1]: one target forward over n tokens, n = 1..len(verify)

    @property
    def cost_ratio(self) -> float:
        """c = draft step / target step."""
        return self.draft_step / self.target_step

    @property
    def verify_table(self) -> list[float]:
        """v(n) = (target forward over n tokens) / (target step), as theory.expected_speedup takes it."""
        return [seconds / self.target_step for seconds in self.verify]

    def round_cost(self, drafted: int) -> float:
        """Cost of a round that drafts `drafted` tokens, in target steps: K * c + v(K + 1)."""
        table = self.verify_table
        verify = table[min(drafted, len(table) - 1)]
        return drafted * self.cost_ratio + verify

    def best_k(self, alpha: float, k_max: int) -> tuple[int, float]:
        """Return the k in 0..k_max with the highest expected speed-up at acceptance rate alpha, and that speed-up."""
        return best_k(alpha, self.cost_ratio, self.verify_table, k_max=min(k_max, len(self.verify) - 1))


def measure_costs(target, draft, prompt_ids: list[int], max_tokens: int = 16, sweeps: int = 3) -> CostCurve:
    """Time a draft step and target forwards over 1..max_tokens tokens after `prompt_ids`.

    `draft` is a CausalLM or None (prompt lookup: c = 0). Both caches are left empty. Costs `sweeps` passes
    over n = 1..max_tokens plus a warm-up, about 50 target forwards, e.g. 20 s for the 1.5B target here.
    Each n keeps its median time over the sweeps: the fastest time would hide that, on a machine shared with
    other work, forwards over several tokens suffer more from the load than one-token forwards. A forward over
    n tokens is then taken to cost no more than the cheapest measured forward over more tokens.
    """
    if len(prompt_ids) <= max_tokens:
        raise ValueError(f"measure_costs needs a prompt longer than max_tokens={max_tokens}, got {len(prompt_ids)} ids")
    context, probe = prompt_ids[:-max_tokens], prompt_ids[-max_tokens:]

    # Each timed forward appends to the cache, and the rollback restores the same starting length.
    def timed_forward(lm, n: int) -> float:
        start = time.perf_counter()
        lm.extend(probe[:n])
        seconds = time.perf_counter() - start
        lm.rollback(len(context))
        return seconds

    target.prefill(context)
    timed_forward(target, max_tokens)  # warm-up: first calls allocate buffers and pick kernels
    # Sweeps interleave the sizes, so a burst of load on the machine hits one sweep, not one size.
    sizes = range(1, max_tokens + 1)
    times = [[timed_forward(target, n) for n in sizes] for _ in range(sweeps)]  # [sweep][n - 1]
    medians = [statistics.median(column) for column in zip(*times)]
    verify = [min(medians[i:]) for i in range(max_tokens)]  # subtle: suffix minimum keeps v(n) non-decreasing
    target.prefill([])

    draft_step = 0.0 if draft is None else measure_draft_step(draft, prompt_ids, max_tokens, sweeps)
    return CostCurve(target_step=verify[0], draft_step=draft_step, verify=tuple(verify))


def measure_draft_step(draft, prompt_ids: list[int], max_tokens: int = 16, sweeps: int = 3) -> float:
    """Return the median seconds of a one-token draft forward, at the position that `measure_costs` uses."""
    context = prompt_ids[:-max_tokens]
    draft.prefill(context)
    times = []
    for _ in range(sweeps + 3):  # the first is a warm-up
        start = time.perf_counter()
        draft.extend(prompt_ids[len(context) : len(context) + 1])
        times.append(time.perf_counter() - start)
        draft.rollback(len(context))
    draft.prefill([])
    return statistics.median(times[1:])


class AdaptiveK:
    """Per-round k from a running acceptance estimate and a measured `CostCurve` (k = 0: plain step).

    alpha is estimated as (accepted + a prior) / (checked + the prior's weight), where accepted and checked
    count drafted tokens with exponentially decaying weights. The weights decay in every round, plain rounds
    included, so while k = 0 old evidence fades, the estimate drifts back to `prior_alpha`, and after a
    while a short draft probes whether the draft guesses right again. Each failed probe adds evidence, so
    probes get rarer where the draft keeps missing. A round drafts only if its expected speed-up exceeds
    1 + `margin`, because the model leaves out overheads and a rejected round's first miss ends its trials.

    The costs are learnt as well. A curve measured at load describes the machine at that moment; on a shared
    2-core machine single forwards vary by 10-15% from one minute to the next, and a gain of 10% is within
    that noise. So the policy keeps two correction factors, observed seconds over the seconds the curve
    predicts: one for drafting rounds (draft forwards plus the verification) and one for plain steps. Each
    round moves its own factor by `cost_weight` and lets the other fade back towards 1 at alpha's rate. The
    best k does not depend on them, since they scale every k > 0 alike, but whether to draft at all does:
    the expected speed-up is multiplied by plain factor / drafting factor. When that speed-up is only
    marginal (below 1 + `probe_below`) and no plain step has been timed yet, one plain step is taken to
    time it.

    A few misses early in a reply can make the draft look useless while the rest of the reply is easy to
    draft (code editing starts with a hard line or two). So after `probe_after` plain steps in a row the
    policy drafts 2 tokens anyway; each probe that is not fully accepted doubles that wait.
    """

    def __init__(self, costs: CostCurve, k_max: int = 16, prior_alpha: float = 0.8, prior_weight: float = 1.0,
                 half_life: float = 12.0, margin: float = 0.05, cost_weight: float = 0.25,
                 probe_below: float = 0.4, probe_after: int = 4) -> None:
        if not 0.0 < prior_alpha < 1.0:
            raise ValueError(f"prior_alpha must lie in (0, 1), got {prior_alpha}")
        self.costs = costs
        self.k_max = k_max
        # Pseudo-counts (accepted, checked). An optimistic prior makes the first rounds draft, because a prior
        # that picks k = 0 would never collect the evidence to change its mind.
        self.prior = (prior_alpha * prior_weight, prior_weight)
        self.decay = 0.5 ** (1.0 / half_life)  # per round: evidence from `half_life` rounds ago weighs half
        self.margin = margin  # draft only if the expected speed-up beats 1 by this much: the model is optimistic
        self.accepted = 0.0  # decayed count of accepted drafted tokens
        self.checked = 0.0  # decayed count of drafted tokens the target checked
        self.cost_weight = cost_weight  # weight of the newest observation in the running cost factors
        self.probe_below = probe_below
        self.plain_factor: float | None = None  # observed / predicted seconds of a plain step; None: not timed yet
        self.draft_factor: float | None = None  # the same for drafting rounds
        # Forced probes: after `probe_after` plain steps in a row, draft 2 tokens. A probe that is not fully
        # accepted doubles the wait, so a draft that keeps missing costs a few probes per reply.
        self.first_probe_after = probe_after
        self.probe_after = probe_after
        self.plain_run = 0  # plain steps in a row so far
        self.probing = False  # the round being chosen is a forced probe
        self.chosen: list[int] = []  # k chosen in each round, for reports

    @property
    def alpha(self) -> float:
        return (self.accepted + self.prior[0]) / (self.checked + self.prior[1])

    def choose(self) -> int:
        k, speedup = self.costs.best_k(self.alpha, self.k_max)
        if k > 0:
            speedup *= (self.plain_factor or 1.0) / (self.draft_factor or 1.0)
            probe = self.plain_factor is None and self.draft_factor is not None and speedup < 1.0 + self.probe_below
            if probe or speedup < 1.0 + self.margin:
                k = 0
        if k == 0 and self.plain_run >= self.probe_after:
            k, self.probing = min(2, self.k_max), True
        self.plain_run = self.plain_run + 1 if k == 0 else 0
        self.chosen.append(k)
        return k

    def observe(self, round_: Round) -> None:
        if self.probing:
            full = bool(round_.drafted) and round_.accepted == len(round_.drafted)
            self.probe_after = self.first_probe_after if full else 2 * self.probe_after
            self.probing = False
        self.accepted = self.decay * self.accepted + round_.accepted
        self.checked = self.decay * self.checked + round_.accepted + round_.rejected
        seconds = round_.target_seconds + round_.draft_seconds
        if seconds <= 0.0:
            return  # an untimed round (table models in tests): nothing to learn about costs
        drafted = len(round_.drafted)
        ratio = seconds / (self.costs.round_cost(drafted) * self.costs.target_step)
        # The observed kind moves towards this round, and the other fades back to the load-time curve (1.0).
        # So one slow round cannot stop drafting for the rest of the run.
        if drafted == 0:
            self.plain_factor = self._blend(self.plain_factor, ratio)
            self.draft_factor = self._fade(self.draft_factor)
        else:
            self.draft_factor = self._blend(self.draft_factor, ratio)
            self.plain_factor = self._fade(self.plain_factor)

    def _blend(self, factor: float | None, ratio: float) -> float:
        # Start from the load-time curve (1.0), because a single forward varies by 10-15% here.
        return (1.0 - self.cost_weight) * (factor or 1.0) + self.cost_weight * ratio

    def _fade(self, factor: float | None) -> float | None:
        return None if factor is None else self.decay * factor + (1.0 - self.decay)


def predicted_speedup(result: GenerationResult, costs: CostCurve) -> float | None:
    """The decode-phase speed-up that the formula predicts from a run's alpha, its draft lengths and `costs`.

    Every round with K drafted tokens is expected to commit (1 - alpha^(K+1)) / (1 - alpha) tokens at a
    cost of K * c + v(K + 1) target steps. The prediction is the sum of expected tokens over the sum of costs.
    It uses the run's measured alpha, not its token counts, so it can disagree with the measured speed-up.
    """
    alpha = result.acceptance_rate
    if alpha is None or not result.rounds:
        return None
    tokens = sum(expected_tokens_per_round(alpha, len(r.drafted)) for r in result.rounds)
    cost = sum(costs.round_cost(len(r.drafted)) for r in result.rounds)
    return tokens / cost
