"""Records of a generation: one `Round` per target forward, and the `GenerationResult` that sums them up.

The acceptance rate is accepted / (accepted + rejected): each drafted token that the target checks is one
Bernoulli trial, and a round stops at its first failure. Dividing by k x rounds instead (every drafted
token, checked or not) gives a smaller number that is *not* the acceptance rate: with a per-token
acceptance of 0.8 and k = 4 it is about 0.59. Tokens per target forward is the other honest summary; it
is (1 - alpha^(k+1)) / (1 - alpha) in theory (see `specdec_mini.theory`).

Left out: energy and memory; the benchmark harness measures peak memory itself.
"""

from __future__ import annotations

from dataclasses import dataclass, field

ACCEPTED, CORRECTION, BONUS, TARGET = "accepted", "correction", "bonus", "target"


@dataclass
class Round:
    """Record of one round: the draft, the verdict, and its cost."""

    drafted: list[int]  # the K tokens the drafter proposed (K = 0 for a plain decoding step)
    accepted: int  # how many drafted tokens were kept and emitted
    rejected: int  # 1 if a drafted token was checked and rejected, else 0
    tokens: list[int]  # the tokens this round committed, in order
    kinds: list[str]  # per committed token: "accepted", "correction", "bonus" or "target" (plain decoding)
    target_forwards: int = 1  # forward passes of the target in this round (always 1 in the loop)
    draft_forwards: int = 0  # forward passes of the draft model in this round
    target_seconds: float = 0.0  # time inside the target's forward pass
    draft_seconds: float = 0.0  # time inside the draft model's forward passes
    seconds: float = 0.0  # wall time of the whole round
    stop: str | None = None  # "eos" or "max_new_tokens" when generation ended in this round


@dataclass
class GenerationResult:
    """The new tokens, their text and every round that produced them."""

    method: str  # "autoregressive" or "speculative (<drafter>)"
    prompt_ids: list[int]
    tokens: list[int] = field(default_factory=list)  # the new tokens, prompt excluded
    text: str = ""  # the new tokens decoded
    rounds: list[Round] = field(default_factory=list)
    prefill_seconds: float = 0.0  # time to put the prompt into the cache(s)
    seconds: float = 0.0  # wall time of the whole call, prefill included
    stop: str | None = None  # why generation ended: "eos", "max_new_tokens", or None if the caller stopped it
    k: int | None = None  # the draft length asked for (None for plain decoding)

    @property
    def accepted(self) -> int:
        return sum(r.accepted for r in self.rounds)

    @property
    def rejected(self) -> int:
        return sum(r.rejected for r in self.rounds)

    @property
    def drafted(self) -> int:
        return sum(len(r.drafted) for r in self.rounds)

    @property
    def acceptance_rate(self) -> float | None:
        """accepted / (accepted + rejected); None when no drafted token was ever checked."""
        checked = self.accepted + self.rejected
        return self.accepted / checked if checked else None

    @property
    def draft_utilisation(self) -> float | None:
        """accepted / drafted: the share of the draft's work that ended up in the output (not alpha)."""
        return self.accepted / self.drafted if self.drafted else None

    @property
    def target_forwards(self) -> int:
        """Target forward passes in the decode rounds (the prefill is not counted)."""
        return sum(r.target_forwards for r in self.rounds)

    @property
    def draft_forwards(self) -> int:
        return sum(r.draft_forwards for r in self.rounds)

    @property
    def tokens_per_target_forward(self) -> float:
        return len(self.tokens) / self.target_forwards if self.target_forwards else 0.0

    @property
    def tokens_per_second(self) -> float:
        return len(self.tokens) / self.seconds if self.seconds > 0 else 0.0

    @property
    def target_seconds(self) -> float:
        return sum(r.target_seconds for r in self.rounds)

    @property
    def draft_seconds(self) -> float:
        return sum(r.draft_seconds for r in self.rounds)

    @property
    def other_seconds(self) -> float:
        """Decode time spent outside forward passes: sampling, verification, cache rollback, Python."""
        return max(0.0, self.seconds - self.prefill_seconds - self.target_seconds - self.draft_seconds)

    def acceptance_by_position(self) -> list[float | None]:
        """P(drafted token i is accepted | token i was checked), for i = 0 .. max K - 1."""
        depth = max((len(r.drafted) for r in self.rounds), default=0)
        kept, checked = [0] * depth, [0] * depth
        for r in self.rounds:
            for i in range(r.accepted + r.rejected):
                checked[i] += 1
                kept[i] += i < r.accepted
        return [kept[i] / checked[i] if checked[i] else None for i in range(depth)]

    def summary(self) -> dict:
        """Return the headline numbers as a plain dict (JSON-ready)."""
        return {
            "method": self.method,
            "k": self.k,
            "new_tokens": len(self.tokens),
            "seconds": self.seconds,
            "tokens_per_second": self.tokens_per_second,
            "acceptance_rate": self.acceptance_rate,
            "tokens_per_target_forward": self.tokens_per_target_forward,
            "target_forwards": self.target_forwards,
            "draft_forwards": self.draft_forwards,
            "prefill_seconds": self.prefill_seconds,
            "target_seconds": self.target_seconds,
            "draft_seconds": self.draft_seconds,
            "other_seconds": self.other_seconds,
            "stop": self.stop,
        }


def speedup(result: GenerationResult, baseline: GenerationResult) -> float:
    """Tokens per second of `result` over those of `baseline`, measured on the same prompt ids."""
    if baseline.tokens_per_second == 0:
        raise ValueError("the baseline produced no tokens, so a speed-up is undefined")
    return result.tokens_per_second / baseline.tokens_per_second
