"""Turn logits into the distributions p and q, sample from them, and apply the rejection rule.

Everything the speculative sampler decides lives here, in small functions over probability vectors:

    probabilities(logits, settings)    logits [..., V] -> probabilities [..., V] (temperature, top-k, top-p)
    sample(probs, generator)           [V] -> one token id, drawn with an explicit torch.Generator
    acceptance_probability(p, q, x)    min(1, p(x) / q(x))
    residual_distribution(p, q)        norm(max(0, p - q)), the law to sample after a rejection
    verify(draft, p, q, generator)     the accept/reject walk over one round's k drafted tokens

Notation follows Leviathan et al. (2022): p is the target's distribution, q the draft's. A drafter that
proposes tokens without a distribution (prompt lookup) passes q = None, which means "q is one-hot on the
drafted token". Greedy decoding is the limit temperature -> 0, where p and q are one-hot at their argmax; the
same code path then keeps exactly the tokens on which the two argmaxes agree.

Left out: batched sampling (the loop runs batch size 1) and min-p or typical sampling.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch


@dataclass(frozen=True)
class SamplingSettings:
    """Settings that turn logits into a distribution; the same settings define p for the target and q for the draft."""

    temperature: float = 0.0  # 0 means greedy (one-hot at the argmax); otherwise logits are divided by it
    top_k: int | None = None  # keep the k most likely tokens; None keeps all
    top_p: float = 1.0  # keep the smallest set of tokens whose mass reaches top_p; 1.0 keeps all

    def __post_init__(self) -> None:
        if not self.temperature >= 0:  # also catches NaN
            raise ValueError(f"temperature must be >= 0 (0 = greedy), got {self.temperature}")
        if self.top_k is not None and self.top_k < 1:
            raise ValueError(f"top_k must be >= 1 or None (no limit), got {self.top_k}")
        if not 0 < self.top_p <= 1:
            raise ValueError(f"top_p must be in (0, 1], got {self.top_p}; use 1.0 to turn it off")

    @property
    def greedy(self) -> bool:
        return self.temperature == 0


def probabilities(logits: torch.Tensor, settings: SamplingSettings) -> torch.Tensor:
    """Return the processed distribution for each row of logits: [..., V] -> [..., V].

    float64 logits stay float64 (the exact proofs use them); anything else is computed in float32.

    >>> probabilities(torch.tensor([2.0, 1.0, 0.0]), SamplingSettings(temperature=0.5)).round(decimals=3)
    tensor([0.8670, 0.1170, 0.0160])
    """
    if logits.dtype != torch.float64:
        logits = logits.float()
    # -inf is a legitimate "impossible token"; NaN, +inf or a row with no finite entry are not.
    broken = torch.isnan(logits) | (logits == float("inf"))
    if broken.any() or not torch.isfinite(logits).any(dim=-1).all():
        raise ValueError(
            f"the model returned {int(broken.sum())} NaN or +inf logits (or a row with no finite logit); the "
            "weights or inputs are broken: check the model file's SHA-256 and use float32 on CPU"
        )

    # Greedy: a one-hot at the argmax, so the rejection rule below needs no special case.
    if settings.greedy:
        return torch.nn.functional.one_hot(logits.argmax(dim=-1), logits.shape[-1]).to(logits.dtype)

    logits = logits / settings.temperature

    # Top-k: everything below the k-th largest logit gets probability 0.
    if settings.top_k is not None and settings.top_k < logits.shape[-1]:
        kth_largest = torch.topk(logits, settings.top_k, dim=-1).values[..., -1:]  # [..., 1]
        logits = logits.masked_fill(logits < kth_largest, float("-inf"))

    probs = torch.softmax(logits, dim=-1)

    # Top-p: keep a token if the mass of the tokens strictly more likely than it is still below top_p,
    # so the most likely token always survives.
    if settings.top_p < 1.0:
        sorted_probs, order = torch.sort(probs, dim=-1, descending=True)
        mass_before = sorted_probs.cumsum(dim=-1) - sorted_probs
        keep_sorted = mass_before < settings.top_p
        keep = torch.zeros_like(keep_sorted).scatter(-1, order, keep_sorted)
        probs = probs * keep
        probs = probs / probs.sum(dim=-1, keepdim=True)
    return probs


def sample(probs: torch.Tensor, generator: torch.Generator | None) -> int:
    """Draw one token id from a distribution [V]; a one-hot distribution returns its token without randomness."""
    if probs.max() == 1.0:
        return int(probs.argmax())
    return int(torch.multinomial(probs, 1, generator=generator))


def acceptance_probability(p: torch.Tensor, q: torch.Tensor | None, token: int) -> float:
    """Return min(1, p(x) / q(x)) for the drafted token x; q = None means q is one-hot on x.

    Why this ratio: a token the draft over-proposes (q > p) is kept only often enough to bring its
    frequency down to p; a token it under-proposes (q <= p) is always kept, and the missing mass comes
    back through the residual distribution after a rejection.
    """
    p_x = float(p[token])
    q_x = 1.0 if q is None else float(q[token])
    if q_x <= 0.0:
        # subtle: the draft cannot sample a token with q = 0, but a caller can pass one; rejecting it is safe.
        return 0.0
    return min(1.0, p_x / q_x)


def residual_distribution(p: torch.Tensor, q: torch.Tensor | None, token: int | None = None) -> torch.Tensor:
    """Return norm(max(0, p - q)): [V], [V] -> [V]. With q = None (one-hot on `token`), that is p without `token`.

    After a rejection, sampling from this law adds back exactly the probability mass that the draft
    under-proposed, which is why the output as a whole follows p.
    """
    if q is None:
        if token is None:
            raise ValueError("residual_distribution needs the drafted token when q is one-hot (q=None)")
        q = torch.zeros_like(p)
        q[token] = 1.0
    residual = (p - q).clamp(min=0.0)
    total = residual.sum()

    # subtle: p == q gives an all-zero residual. A rejection then has probability 0, so any valid law will
    # do; returning p avoids the 0/0 NaN of a blind normalisation.
    if total <= 0.0:
        return p.clone()
    return residual / total


def verify(
    draft_tokens: list[int],
    p: torch.Tensor,
    q: torch.Tensor | None,
    generator: torch.Generator | None,
) -> tuple[int, int]:
    """Accept a prefix of the draft and choose the token after it (Leviathan et al., 2022, Algorithm 1).

    draft_tokens: K drafted ids. p: [K+1, V], the target's distributions at each drafted position plus one
    past the last. q: [K, V], the draft's distributions that the tokens were sampled from, or None for a
    deterministic drafter. Returns (number accepted, next token): the next token is the correction sampled
    from the residual at the first rejection, or the bonus token sampled from p[K] when all K are kept.
    """
    for i, token in enumerate(draft_tokens):
        q_i = None if q is None else q[i]

        # Accept with probability min(1, p/q). The comparison is strict and r lies in [0, 1), so a token
        # with p(x) = 0 is never accepted, not even when r happens to be exactly 0.
        ratio = acceptance_probability(p[i], q_i, token)
        if ratio < 1.0:
            r = torch.rand((), generator=generator).item() if ratio > 0.0 else 1.0
            if not r < ratio:
                return i, sample(residual_distribution(p[i], q_i, token), generator)

    # All K drafts survived, so the target's distribution after them is free: sample one bonus token.
    return len(draft_tokens), sample(p[len(draft_tokens)], generator)
