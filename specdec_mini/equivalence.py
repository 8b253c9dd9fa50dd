"""Proof that speculative sampling follows the target's distribution: exactly on toy models, statistically on any.

Exact: for a `TableLM` pair, `speculative_law` walks every branch the sampler can take (each draft sampled
from q, accept or reject at each position, the correction from the residual or the bonus from p, round after
round) and adds up the probability of every output sequence. `target_law` does the same for plain sampling
from p. Equal laws to floating-point precision is the theorem of Leviathan et al. (2022), checked by brute
force. The enumeration calls the library's own `acceptance_probability` and `residual_distribution`.

Statistical: `sample_outputs` runs the real decoder many times with different seeds, and `compare_to_law`
tests the counts against an exact law with a chi-square test and the total variation distance (TV).

Negative controls: `BROKEN_VERIFIERS` and `ArgmaxDrafter` are the classic wrong rules. Plugged into the same
decoder, the same test must reject them; a test that cannot fail proves nothing.

Left out: exact laws for real models (their sequence space is far too large; Monte Carlo covers them).
"""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass
from functools import lru_cache
from math import pi, sqrt

import torch
from scipy import stats as scipy_stats

from specdec_mini.decoding import GenerationConfig, autoregressive_rounds, speculative_rounds
from specdec_mini.drafters import DraftModelDrafter
from specdec_mini.sampling import (
    SamplingSettings,
    acceptance_probability,
    probabilities,
    residual_distribution,
    sample,
    verify,
)

Law = dict[tuple[int, ...], float]


def target_law(target, prompt: list[int], n_tokens: int, settings: SamplingSettings) -> Law:
    """Exact probability of every n-token continuation under plain sampling from p."""

    @lru_cache(maxsize=None)
    def law(context: tuple[int, ...], remaining: int) -> Law:
        if remaining == 0:
            return {(): 1.0}
        p = probabilities(target.next_logits(list(context)), settings)
        out: Law = defaultdict(float)
        for y in torch.nonzero(p).flatten().tolist():
            for rest, prob in law(context + (y,), remaining - 1).items():
                out[(y,) + rest] += float(p[y]) * prob
        return dict(out)

    return law(tuple(prompt), n_tokens)


def speculative_law(
    target,
    draft,
    prompt: list[int],
    n_tokens: int,
    k: int,
    p_settings: SamplingSettings,
    q_settings: SamplingSettings | None = None,
) -> Law:
    """Exact probability of every n-token continuation under speculative sampling with draft length k.

    Mirrors `speculative_rounds` step for step, including the shorter draft when few tokens are left.
    """
    q_settings = q_settings or p_settings

    def p_at(context):
        return probabilities(target.next_logits(list(context)), p_settings)

    def q_at(context):
        return probabilities(draft.next_logits(list(context)), q_settings)

    @lru_cache(maxsize=None)
    def law(context: tuple[int, ...], remaining: int) -> Law:
        if remaining == 0:
            return {(): 1.0}
        out: Law = defaultdict(float)
        k_round = min(k, remaining - 1)

        def emit(tokens: tuple[int, ...], prob: float) -> None:
            for rest, rest_prob in law(context + tokens, remaining - len(tokens)).items():
                out[tokens + rest] += prob * rest_prob

        def walk(drafts: tuple[int, ...], prob: float) -> None:
            p = p_at(context + drafts)
            if len(drafts) == k_round:  # all drafts accepted: the bonus token comes from p
                for y in torch.nonzero(p).flatten().tolist():
                    emit(drafts + (y,), prob * float(p[y]))
                return
            q = q_at(context + drafts)
            for x in torch.nonzero(q).flatten().tolist():
                a = acceptance_probability(p, q, x)
                if a > 0:
                    walk(drafts + (x,), prob * float(q[x]) * a)
                if a < 1:
                    residual = residual_distribution(p, q, x)
                    for y in torch.nonzero(residual).flatten().tolist():
                        emit(drafts + (y,), prob * float(q[x]) * (1 - a) * float(residual[y]))

        walk((), 1.0)
        return dict(out)

    return law(tuple(prompt), n_tokens)


def max_abs_difference(a: Law, b: Law) -> float:
    """The largest |a(s) - b(s)| over all sequences s in either law."""
    return max(abs(a.get(s, 0.0) - b.get(s, 0.0)) for s in set(a) | set(b))


# --- Monte Carlo -------------------------------------------------------------------------------------------


def sample_outputs(
    target,
    prompt: list[int],
    n_tokens: int,
    trials: int,
    drafter=None,
    k: int = 4,
    settings: SamplingSettings = SamplingSettings(temperature=1.0),
    seed: int = 0,
    verifier=None,
    draft_settings: SamplingSettings | None = None,
) -> Counter:
    """Counts of the n-token continuations from `trials` runs of the real decoder (plain if drafter is None)."""
    counts: Counter = Counter()
    for trial in range(trials):
        config = GenerationConfig(
            max_new_tokens=n_tokens, k=k, temperature=settings.temperature, top_k=settings.top_k,
            top_p=settings.top_p, seed=seed + trial,
        )
        if drafter is None:
            rounds = autoregressive_rounds(target, prompt, config)
        else:
            rounds = speculative_rounds(target, drafter, prompt, config, draft_settings, verifier=verifier or verify)
        counts[tuple(t for r in rounds for t in r.tokens)] += 1
    return counts


@dataclass
class Comparison:
    """A Monte Carlo sample against an exact law."""

    trials: int
    chi2: float  # Pearson's statistic over the bins (rare outcomes pooled into one bin)
    p_value: float  # chance of a statistic this large if the sample really follows the law
    tv: float  # total variation distance between the sample's frequencies and the law
    tv_noise: float  # the TV expected from sampling noise alone at this many trials

    @property
    def consistent(self) -> bool:
        """Not rejected at the 0.1% level, and TV within three times the noise level."""
        return self.p_value > 1e-3 and self.tv < 3 * self.tv_noise


def compare_to_law(counts: Counter, law: Law, min_expected: float = 5.0) -> Comparison:
    """Chi-square test and TV distance of observed counts against exact probabilities."""
    trials = sum(counts.values())
    if trials == 0:
        raise ValueError("no samples to compare; run at least one trial")
    outcomes = set(law) | set(counts)
    impossible = sum(n for s, n in counts.items() if law.get(s, 0.0) == 0.0)

    # Pool outcomes whose expected count is below min_expected, so the chi-square approximation holds.
    observed, expected = [], []
    pooled_observed, pooled_expected = 0, 0.0
    for s in outcomes:
        e = law.get(s, 0.0) * trials
        if e >= min_expected:
            observed.append(counts.get(s, 0))
            expected.append(e)
        else:
            pooled_observed += counts.get(s, 0)
            pooled_expected += e
    if pooled_expected > 0:
        observed.append(pooled_observed)
        expected.append(pooled_expected)

    if impossible:
        chi2, p_value = float("inf"), 0.0  # an outcome of probability 0 happened: the sampler is wrong
    elif len(observed) < 2:
        chi2, p_value = 0.0, 1.0
    else:
        chi2, p_value = scipy_stats.chisquare(observed, expected)
    tv = 0.5 * sum(abs(counts.get(s, 0) / trials - law.get(s, 0.0)) for s in outcomes)
    # E|freq - p| is about sqrt(2 p (1 - p) / (pi N)) for each outcome (normal approximation).
    tv_noise = 0.5 * sum(sqrt(2 * p * (1 - p) / (pi * trials)) for p in law.values())
    return Comparison(trials, float(chi2), float(p_value), tv, tv_noise)


# --- the classic wrong rules (negative controls) ------------------------------------------------------------


def _verify_with(accept_ratio, resample):
    """Build a verifier with the same walk as `sampling.verify` but a swapped ratio or rejection law."""

    def verifier(draft_tokens, p, q, generator):
        for i, token in enumerate(draft_tokens):
            q_i = None if q is None else q[i]
            ratio = accept_ratio(p[i], q_i, token)
            if not torch.rand((), generator=generator).item() < ratio:
                return i, sample(resample(p[i], q_i, token), generator)
        return len(draft_tokens), sample(p[len(draft_tokens)], generator)

    return verifier


def _one_hot_if_none(q, token, like):
    if q is not None:
        return q
    q = torch.zeros_like(like)
    q[token] = 1.0
    return q


BROKEN_VERIFIERS = {
    # On rejection, sample from p itself instead of the residual: over-represents tokens the draft favours.
    "resample from p": _verify_with(acceptance_probability, lambda p, q, x: p),
    # The ratio upside down, min(1, q/p), as when the two papers' p and q are swapped by mistake.
    "inverted ratio": _verify_with(
        lambda p, q, x: min(1.0, float(_one_hot_if_none(q, x, p)[x]) / max(float(p[x]), 1e-30)),
        residual_distribution,
    ),
    # Accept every drafted token (a lookup drafter that trusts its match): the output follows the draft.
    "accept everything": _verify_with(lambda p, q, x: 1.0, residual_distribution),
}


class ArgmaxDrafter(DraftModelDrafter):
    """Broken on purpose: proposes the draft's argmax but reports the soft q to the acceptance ratio."""

    def choose(self, q: torch.Tensor, generator) -> int:
        return int(q.argmax())


# --- greedy identity on real models -----------------------------------------------------------------------


@dataclass
class Divergence:
    """Where two greedy outputs first differ, and whether the target was nearly tied there."""

    position: int  # index into the new tokens
    tokens: tuple[int, int]  # the two outputs' tokens at that position
    top2_gap: float  # target logit of its best token minus its second best, at that position

    @property
    def near_tie(self) -> bool:
        """A gap this small lets float32 rounding order (one token vs k+1 tokens per forward) flip the argmax."""
        return self.top2_gap < 1e-4


def greedy_divergence(target, prompt_ids: list[int], tokens_a: list[int], tokens_b: list[int]) -> Divergence | None:
    """Return None if two greedy outputs agree on their common length, else where and how they first differ."""
    for i, (a, b) in enumerate(zip(tokens_a, tokens_b)):
        if a != b:
            context = list(prompt_ids) + list(tokens_a[:i])
            logits = target.prefill(context)  # [V], the target's logits for position i
            top2 = torch.topk(logits.float(), 2).values
            return Divergence(i, (a, b), float(top2[0] - top2[1]))
    return None
