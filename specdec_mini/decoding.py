"""Plain autoregressive decoding (the baseline) and speculative decoding, as generators of rounds.

Speculative decoding, one round (Leviathan et al., 2022, Algorithm 1; Chen et al., 2023):

    draft     the drafter proposes K <= k tokens d1..dK, sampled from q
    verify    one target forward over [last committed token, d1..dK] gives p at K+1 positions
    accept    keep d_i with probability min(1, p/q); at the first rejection sample a correction from
              norm(max(0, p - q)); if all K survive, sample a bonus token from the last p
    rollback  crop both KV caches back to the committed tokens minus the last one

Both caches hold "committed minus the last token" between rounds, because the last token's logits are
exactly what the next round's forward pass must produce. One exception saves a draft forward per round: after
a fully accepted round the draft has not yet seen dK (it sampled dK but never needed to feed it), so its cache
is one shorter and catches up at the start of the next draft.

`speculative_rounds` and `autoregressive_rounds` yield one `Round` per target forward; they are the only
implementation of the algorithm, and the batch functions, the command line, the lessons and the demo all
consume them. Closing the generator stops generation at once.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Protocol

import torch

from specdec_mini.drafters import Drafter
from specdec_mini.models import check_compatible
from specdec_mini.sampling import SamplingSettings, probabilities, sample, verify
from specdec_mini.stats import ACCEPTED, BONUS, CORRECTION, TARGET, GenerationResult, Round


class DraftLength(Protocol):
    """A per-round rule for k: `choose()` before each draft, `observe(round)` after each verification."""

    def choose(self) -> int: ...

    def observe(self, round_: Round) -> None: ...


MAX_K = 64  # more drafted tokens than this per round never pay: even at alpha = 0.99 the 64th survives ~50%


@dataclass(frozen=True)
class GenerationConfig:
    """Everything one generation call needs besides the models and the prompt."""

    max_new_tokens: int = 64  # generation ends after this many new tokens (or at an EOS token)
    k: int = 4  # tokens drafted per round
    temperature: float = 0.0  # 0 = greedy; the same value shapes p (target) and q (draft)
    top_k: int | None = None  # keep only the top_k most likely tokens; None = no limit
    top_p: float = 1.0  # nucleus sampling mass; 1.0 = off
    seed: int = 0  # seeds the one torch.Generator that every random draw uses

    def __post_init__(self) -> None:
        if not isinstance(self.max_new_tokens, int) or self.max_new_tokens < 1:
            raise ValueError(f"max_new_tokens must be an integer >= 1, got {self.max_new_tokens!r}")
        if not isinstance(self.k, int) or not 1 <= self.k <= MAX_K:
            raise ValueError(f"k (tokens drafted per round) must be an integer in [1, {MAX_K}], got {self.k!r}")
        self.sampling  # validates temperature, top_k and top_p

    @property
    def sampling(self) -> SamplingSettings:
        return SamplingSettings(self.temperature, self.top_k, self.top_p)


def _check_prompt(model, prompt_ids: list[int], config: GenerationConfig) -> None:
    if len(prompt_ids) == 0:
        raise ValueError("the prompt is empty; pass at least one token id")
    if not all(0 <= t < model.vocab_size for t in prompt_ids):
        raise ValueError(f"prompt token ids must lie in [0, {model.vocab_size}) for {model.name}")
    needed = len(prompt_ids) + config.max_new_tokens
    if needed > model.context_length:
        raise ValueError(
            f"the prompt ({len(prompt_ids)} tokens) plus max_new_tokens ({config.max_new_tokens}) needs {needed} "
            f"positions, but {model.name} has a context window of {model.context_length}; shorten the prompt "
            "or lower max_new_tokens"
        )


def _cut_at_eos(tokens: list[int], eos: set[int]) -> tuple[list[int], bool]:
    """Keep tokens up to and including the first EOS; report whether one was found."""
    for i, token in enumerate(tokens):
        if token in eos:
            return tokens[: i + 1], True
    return tokens, False


def speculative_rounds(
    target,
    drafter: Drafter,
    prompt_ids: list[int],
    config: GenerationConfig,
    draft_sampling: SamplingSettings | None = None,
    verifier: Callable = verify,
    draft_length: DraftLength | None = None,
) -> Iterator[Round]:
    """Generate with speculative decoding, yielding one `Round` per target forward.

    `draft_sampling` overrides the settings that shape q (default: the same as p's). Whatever it is, the
    output follows the target's p exactly, because verification uses the q the tokens were drawn from.
    `verifier` exists so that tests and lessons can swap in a broken rule and watch it get caught.
    `draft_length`, if given, picks each round's k in 0..config.k (see `specdec_mini.autok`). The output
    law does not depend on k, so any rule that looks only at past rounds keeps the output exact.
    """
    if hasattr(drafter, "model"):
        check_compatible(target, drafter.model)
    _check_prompt(target, prompt_ids, config)
    p_settings = config.sampling
    q_settings = draft_sampling or p_settings
    generator = torch.Generator().manual_seed(config.seed)
    eos = target.eos_token_ids
    committed = list(prompt_ids)
    produced = 0

    # Prefill: both caches hold the prompt minus its last token, which the first round feeds.
    target.reset_counters()
    target.prefill(committed[:-1])
    drafter.reset(committed)

    while produced < config.max_new_tokens:
        start = time.perf_counter()
        target_before = (target.forward_count, target.forward_seconds)
        draft_before = (drafter.forward_count, drafter.forward_seconds)

        # Draft: never more than the budget can use, since K accepted tokens plus one always fit.
        k = config.k if draft_length is None else min(config.k, draft_length.choose())
        k = min(k, config.max_new_tokens - produced - 1)
        drafted, q = drafter.propose(committed, k, q_settings, generator) if k > 0 else ([], None)
        drafted = drafted[:k]
        q = None if q is None else q[: len(drafted)]

        # Verify: one target forward scores the last committed token and every drafted one.
        logits = target.extend([committed[-1]] + drafted)  # [K+1] -> [K+1, V]
        p = probabilities(logits, p_settings)  # [K+1, V]
        accepted, next_token = verifier(drafted, p, q, generator)
        tokens = drafted[:accepted] + [next_token]
        kinds = [ACCEPTED] * accepted + [BONUS if accepted == len(drafted) and drafted else CORRECTION]
        if not drafted:
            kinds = [TARGET]

        # An EOS inside the block ends generation there: later tokens are neither emitted nor counted.
        tokens, hit_eos = _cut_at_eos(tokens, eos)
        kinds = kinds[: len(tokens)]
        rejected = int(accepted < len(drafted) and len(tokens) == accepted + 1)
        accepted = min(accepted, len(tokens))
        committed += tokens
        produced += len(tokens)

        # Rollback: the target cached all K+1 fed tokens, the rejected ones included; crop both caches.
        target.rollback(len(committed) - 1)
        drafter.rollback(len(committed) - 1)

        stop = "eos" if hit_eos else ("max_new_tokens" if produced >= config.max_new_tokens else None)
        round_ = Round(
            drafted=drafted,
            accepted=accepted,
            rejected=rejected,
            tokens=tokens,
            kinds=kinds,
            target_forwards=target.forward_count - target_before[0],
            draft_forwards=drafter.forward_count - draft_before[0],
            target_seconds=target.forward_seconds - target_before[1],
            draft_seconds=drafter.forward_seconds - draft_before[1],
            seconds=time.perf_counter() - start,
            stop=stop,
        )
        if draft_length is not None:
            draft_length.observe(round_)
        yield round_
        if stop:
            return


def autoregressive_rounds(target, prompt_ids: list[int], config: GenerationConfig) -> Iterator[Round]:
    """Generate with plain decoding: one target forward, one token, one `Round` at a time."""
    _check_prompt(target, prompt_ids, config)
    settings = config.sampling
    generator = torch.Generator().manual_seed(config.seed)
    eos = target.eos_token_ids
    target.reset_counters()
    target.prefill(prompt_ids[:-1])
    last = prompt_ids[-1]

    for produced in range(1, config.max_new_tokens + 1):
        start = time.perf_counter()
        seconds_before = target.forward_seconds
        logits = target.extend([last])[-1]  # [1, V] -> [V]
        last = sample(probabilities(logits, settings), generator)
        stop = "eos" if last in eos else ("max_new_tokens" if produced == config.max_new_tokens else None)
        yield Round(
            drafted=[],
            accepted=0,
            rejected=0,
            tokens=[last],
            kinds=[TARGET],
            target_seconds=target.forward_seconds - seconds_before,
            seconds=time.perf_counter() - start,
            stop=stop,
        )
        if stop:
            return


def collect(
    rounds: Iterator[Round],
    method: str,
    prompt_ids: list[int],
    decode: Callable[[list[int]], str],
    on_round: Callable[[Round], None] | None = None,
    k: int | None = None,
) -> GenerationResult:
    """Run a round generator to the end and sum it up; `on_round` sees each round as it is committed."""
    result = GenerationResult(method=method, prompt_ids=list(prompt_ids), k=k)
    start = time.perf_counter()
    for round_ in rounds:
        if not result.rounds:
            # Everything before the first round's own work was prefill.
            result.prefill_seconds = time.perf_counter() - start - round_.seconds
        result.rounds.append(round_)
        result.tokens += round_.tokens
        result.stop = round_.stop
        if on_round is not None:
            on_round(round_)
    result.seconds = time.perf_counter() - start
    result.text = decode(result.tokens)
    return result


def speculative_generate(
    target,
    drafter: Drafter,
    prompt_ids: list[int],
    config: GenerationConfig = GenerationConfig(),
    on_round: Callable[[Round], None] | None = None,
    draft_sampling: SamplingSettings | None = None,
    draft_length: DraftLength | None = None,
) -> GenerationResult:
    """Speculative decoding from prompt ids to a `GenerationResult`; see `speculative_rounds`."""
    rounds = speculative_rounds(target, drafter, prompt_ids, config, draft_sampling, draft_length=draft_length)
    return collect(rounds, f"speculative ({drafter.name})", prompt_ids, target.decode, on_round, k=config.k)


def autoregressive_generate(
    target,
    prompt_ids: list[int],
    config: GenerationConfig = GenerationConfig(),
    on_round: Callable[[Round], None] | None = None,
) -> GenerationResult:
    """Plain decoding from prompt ids to a `GenerationResult`; the baseline for every speed-up."""
    rounds = autoregressive_rounds(target, prompt_ids, config)
    return collect(rounds, "autoregressive", prompt_ids, target.decode, on_round)
