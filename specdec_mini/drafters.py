"""Drafters: whatever proposes the k tokens that the target then verifies in one forward pass.

Every drafter has the same three calls, so the decoding loop never needs to know which one it has:

    reset(prompt_ids)                         forget the last generation and start from this prompt
    propose(context, k, settings, generator)  -> (K token ids, q [K, V] or None), with K <= k
    rollback(length)                          forget everything after the first `length` committed tokens

`DraftModelDrafter` runs a small model of the same family and returns the distributions q it sampled from,
processed with the same settings (temperature, top-k, top-p) as the target's p. The acceptance ratio p/q
is only exact if q is the law the tokens really came from. `PromptLookupDrafter` copies the tokens that
followed the latest earlier occurrence of the context's last n-gram. It is deterministic, so it returns
q = None ("one-hot on the proposed token"), and the rejection rule then accepts x with probability p(x).

Left out, for now: self-drafting heads that read the target's last hidden state (Medusa, EAGLE,
multi-token prediction). `CausalLM.keep_hidden_states` keeps that state reachable for them.
"""

from __future__ import annotations

from typing import Protocol

import torch

from specdec_mini.sampling import SamplingSettings, probabilities, sample


class Drafter(Protocol):
    name: str
    forward_count: int  # draft-model forward passes since the last reset (0 for model-free drafters)
    forward_seconds: float  # time spent in them

    def reset(self, prompt_ids: list[int]) -> None: ...

    def propose(
        self, context: list[int], k: int, settings: SamplingSettings, generator: torch.Generator | None
    ) -> tuple[list[int], torch.Tensor | None]: ...

    def rollback(self, length: int) -> None: ...


class DraftModelDrafter:
    """Drafts k tokens autoregressively with a small model that keeps its own KV cache."""

    def __init__(self, model, min_confidence: float = 0.0) -> None:
        self.model = model
        self.name = f"draft model {model.name}"
        # Stop a round's draft early once the draft's own probability of its token falls below this.
        # 0 never stops early; the dropped positions are the ones most likely to be rejected anyway.
        self.min_confidence = min_confidence

    @property
    def forward_count(self) -> int:
        return self.model.forward_count

    @property
    def forward_seconds(self) -> float:
        return self.model.forward_seconds

    def reset(self, prompt_ids: list[int]) -> None:
        # Like the target's cache, the draft's contains every committed token except the last.
        self.model.reset_counters()
        self.model.prefill(prompt_ids[:-1])

    def propose(
        self, context: list[int], k: int, settings: SamplingSettings, generator: torch.Generator | None
    ) -> tuple[list[int], torch.Tensor | None]:
        """Sample up to k tokens from q; context [T] -> (K tokens, q [K, V])."""
        # Feed what the cache has not seen yet: the last committed token, and after a fully accepted round
        # also the last drafted token, which the previous round sampled but never had to feed.
        pending = context[self.model.cache_length :]
        tokens: list[int] = []
        rows: list[torch.Tensor] = []
        for _ in range(k):
            logits = self.model.extend(pending)[-1]  # [T, V] -> [V]
            q = probabilities(logits, settings)
            token = self.choose(q, generator)
            tokens.append(token)
            rows.append(q)
            if self.min_confidence > 0.0 and float(q[token]) < self.min_confidence:
                break
            pending = [token]
        if not tokens:
            return [], None
        return tokens, torch.stack(rows)  # K x [V] -> [K, V]

    def choose(self, q: torch.Tensor, generator: torch.Generator | None) -> int:
        """Sample the drafted token from exactly the q that the acceptance ratio will use."""
        return sample(q, generator)

    def rollback(self, length: int) -> None:
        self.model.rollback(length)


class PromptLookupDrafter:
    """Proposes the continuation of the latest earlier match of the context's last n tokens (n-gram drafting).

    >>> drafter = PromptLookupDrafter(max_ngram=2)
    >>> drafter.propose([5, 6, 7, 8, 1, 5, 6], k=3, settings=SamplingSettings(), generator=None)
    ([7, 8, 1], None)
    """

    def __init__(self, max_ngram: int = 3, min_ngram: int = 1) -> None:
        if not 1 <= min_ngram <= max_ngram:
            raise ValueError(f"need 1 <= min_ngram <= max_ngram, got min_ngram={min_ngram}, max_ngram={max_ngram}")
        self.max_ngram = max_ngram
        self.min_ngram = min_ngram
        self.name = "prompt lookup"
        self.forward_count = 0
        self.forward_seconds = 0.0

    def reset(self, prompt_ids: list[int]) -> None:
        pass  # nothing is kept between rounds: the context itself is the draft's memory

    def propose(
        self, context: list[int], k: int, settings: SamplingSettings, generator: torch.Generator | None
    ) -> tuple[list[int], torch.Tensor | None]:
        # Longer n-grams first: a longer match is better evidence that the continuation repeats too.
        for n in range(min(self.max_ngram, len(context) - 1), self.min_ngram - 1, -1):
            pattern = context[-n:]
            # The latest match wins, since recent text is the likeliest to be repeated next.
            for start in range(len(context) - n - 1, -1, -1):
                if context[start : start + n] == pattern:
                    continuation = context[start + n : start + n + k]
                    return continuation, None
        return [], None

    def rollback(self, length: int) -> None:
        pass
