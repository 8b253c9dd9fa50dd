"""Tiny models with the `CausalLM` interface, for exact proofs and fast tests.

`TableLM` is an n-gram model written down as an explicit table: the logits for the next token are a row
looked up by the last `order` tokens. With a vocabulary of 3-8 tokens every output sequence can be listed and
its probability computed exactly (see `specdec_mini.equivalence`), and one forward pass costs microseconds,
so 50,000 Monte Carlo trials of the full decoder run in seconds.

`tiny_transformer` builds a randomly initialised Llama with a few thousand parameters inside a real
`CausalLM`, so tests also run the real KV-cache and rollback path quickly.

Left out: tokenizers. Toy models work on token ids only.
"""

from __future__ import annotations

import itertools
import time

import torch

from specdec_mini.models import CausalLM


class TableLM:
    """An order-n table model: logits(next | context) = table[last `order` tokens] ([V+1]^order rows of [V])."""

    def __init__(self, table: torch.Tensor, order: int, name: str = "toy", eos_token_ids: set[int] | None = None):
        self.vocab_size = table.shape[-1]
        if table.shape[0] != (self.vocab_size + 1) ** order:
            raise ValueError(
                f"an order-{order} table over {self.vocab_size} tokens needs {(self.vocab_size + 1) ** order} rows, "
                f"got {table.shape[0]}"
            )
        self.table = table  # [(V+1)^order, V]; float64 by default, so exact laws match to ~1e-16
        self.order = order
        self.name = name
        self.tokenizer = None
        self.context_length = 1 << 30
        self.eos_token_ids = set(eos_token_ids or ())
        self.tokens: list[int] = []  # the "KV cache": every token fed so far
        self.reset_counters()

    @classmethod
    def random(cls, vocab_size: int, order: int = 2, seed: int = 0, scale: float = 2.0, name: str = "toy") -> "TableLM":
        """Build a table of standard normal logits times `scale`; a larger scale gives sharper distributions."""
        generator = torch.Generator().manual_seed(seed)
        shape = ((vocab_size + 1) ** order, vocab_size)
        table = scale * torch.randn(shape, generator=generator, dtype=torch.float64)
        return cls(table, order, name=name)

    def perturbed(self, noise: float, seed: int = 1, name: str = "toy draft") -> "TableLM":
        """Return a draft-like copy: the same table plus Gaussian noise, so q resembles p without matching it."""
        generator = torch.Generator().manual_seed(seed)
        table = self.table + noise * torch.randn(self.table.shape, generator=generator, dtype=self.table.dtype)
        return TableLM(table, self.order, name=name, eos_token_ids=self.eos_token_ids)

    def reset_counters(self) -> None:
        self.forward_count = 0
        self.forward_seconds = 0.0

    def row(self, context: list[int]) -> int:
        """Return the table row for the token after `context`; positions before the start read as token V."""
        padded = [self.vocab_size] * self.order + list(context)
        row = 0
        for token in padded[len(padded) - self.order :]:
            row = row * (self.vocab_size + 1) + token
        return row

    def next_logits(self, context: list[int]) -> torch.Tensor:
        """Return the logits [V] for the token after `context`, without touching the cache."""
        return self.table[self.row(context)]

    @property
    def cache_length(self) -> int:
        return len(self.tokens)

    def prefill(self, ids: list[int]) -> torch.Tensor | None:
        self.tokens = []
        return self.extend(ids)[-1] if ids else None

    def extend(self, ids: list[int]) -> torch.Tensor:
        """Append ids to the cache: [T] -> [T, V], where row t contains the logits for the token after ids[t]."""
        if not ids:
            raise ValueError("extend needs at least one token id, got an empty list")
        if min(ids) < 0 or max(ids) >= self.vocab_size:
            raise ValueError(f"token ids must lie in [0, {self.vocab_size}), got {ids}")
        start = time.perf_counter()
        rows = []
        for token in ids:
            self.tokens.append(token)
            rows.append(self.row(self.tokens))
        self.forward_count += 1
        self.forward_seconds += time.perf_counter() - start
        return self.table[rows]  # [T, V]

    def rollback(self, length: int) -> None:
        if length < 0:
            raise ValueError(f"rollback length must be >= 0, got {length}")
        del self.tokens[length:]

    def encode(self, prompt, *, chat: bool = True) -> list[int]:
        raise ValueError("toy models have no tokenizer; pass prompt token ids")

    def decode(self, ids: list[int]) -> str:
        return " ".join(str(i) for i in ids)

    def pieces(self, ids: list[int]) -> list[str]:
        return [f"[{token}]" for token in ids]


def all_sequences(vocab_size: int, length: int) -> list[tuple[int, ...]]:
    """List every token sequence of `length` over the vocabulary, in lexicographic order (V^length of them)."""
    return list(itertools.product(range(vocab_size), repeat=length))


def tiny_transformer(vocab_size: int = 32, seed: int = 0, hidden_size: int = 32, layers: int = 2) -> CausalLM:
    """Build a randomly initialised Llama in float32 inside a real `CausalLM` (real KV cache, real rollback)."""
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(seed)
    config = LlamaConfig(
        vocab_size=vocab_size,
        hidden_size=hidden_size,
        intermediate_size=2 * hidden_size,
        num_hidden_layers=layers,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=512,
        tie_word_embeddings=False,
    )
    model = LlamaForCausalLM(config).float()
    # Random weights give nearly uniform logits; sharpen the output layer so greedy choices are not near-ties.
    with torch.no_grad():
        model.lm_head.weight.mul_(8.0)
    lm = CausalLM(model, tokenizer=None, name=f"tiny-llama-{seed}")
    lm.eos_token_ids = set()  # LlamaConfig's default EOS id would end runs at random; tests set their own
    return lm
