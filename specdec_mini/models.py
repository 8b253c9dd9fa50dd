"""`CausalLM`: one language model plus its KV cache, behind the four calls the decoder needs.

    prefill(ids)      reset the cache and run the prompt through it        [T] -> last logits [V]
    extend(ids)       append tokens to the cache, return their logits       [T] -> [T, V]
    rollback(length)  crop the cache back to its first `length` tokens
    cache_length      how many tokens the cache holds

Speculative decoding needs `rollback` because the target scores k drafted tokens in one forward pass and
writes all of them into its cache; the rejected ones must be cut off again before the next round. The
transformers `DynamicCache` stores keys and values as [B, heads, T, head_dim] per layer, so a rollback is a
slice along T and costs nothing.

The wrapper also owns the tokenizer-side checks that must run before any forward pass: the chat template,
the context window, and whether a draft and a target share one vocabulary.

Left out: batches (batch size 1 only), static caches and sliding-window attention.
"""

from __future__ import annotations

import time
import warnings

import torch
from transformers import DynamicCache, PreTrainedModel

from specdec_mini.kernels import check_weights, quantize_int8, use_onednn_linear


class CausalLM:
    """A transformers causal LM with a KV cache, counted forward passes and the tokenizer beside it."""

    def __init__(self, model: PreTrainedModel, tokenizer=None, name: str = "model", onednn: bool = True,
                 weights: str = "float32") -> None:
        check_weights(weights)
        self.model = model.eval()
        self.weights = weights
        if weights == "int8":
            # For drafts: a quarter of the bytes per step, different guesses, the same verified output.
            quantize_int8(model)
        else:
            # Every float32 matmul through oneDNN, the same kernel for plain decoding and verification, so a
            # speed-up compares like with like. See specdec_mini.kernels; onednn=False keeps stock PyTorch.
            use_onednn_linear(model, onednn)
        self.tokenizer = tokenizer
        self.name = name
        self.vocab_size = int(model.config.vocab_size)  # V: the width of a logits row
        self.context_length = int(getattr(model.config, "max_position_embeddings", 0) or 1 << 30)
        self.keep_hidden_states = False  # set True for drafters that read the target's last hidden state
        self.last_hidden_states: torch.Tensor | None = None  # [T, hidden] of the latest forward, if kept
        self.eos_token_ids = self.find_eos_token_ids()  # generation stops after any of these ids
        self.cache = DynamicCache()
        self.reset_counters()

    @classmethod
    def load(cls, source: str, *, progress: bool = True, onednn: bool = True, weights: str = "float32") -> "CausalLM":
        """Load a catalog name, hub id, GGUF file or transformers folder (see `specdec_mini.catalog`).

        weights="int8" quantises the linear layers after loading (see `kernels.quantize_int8`): for drafts.
        """
        from specdec_mini import catalog

        check_weights(weights)  # before the slow load, so a typo fails at once
        model, tokenizer = catalog.load(source, progress=progress)
        name = source if weights == "float32" else f"{source} ({weights})"
        return cls(model, tokenizer, name=name, onednn=onednn, weights=weights)

    def reset_counters(self) -> None:
        self.forward_count = 0  # forward passes since the last reset, prefill included
        self.forward_seconds = 0.0  # wall time spent inside those forward passes

    # --- the cache ---------------------------------------------------------------------------------------

    @property
    def cache_length(self) -> int:
        return self.cache.get_seq_length()

    def prefill(self, ids: list[int]) -> torch.Tensor | None:
        """Start a fresh cache holding `ids` and return the logits after the last one ([T] -> [V]).

        An empty `ids` only resets the cache and returns None.
        """
        self.cache = DynamicCache()
        if not ids:
            return None
        # Only the last row is needed, so the output layer runs once instead of T times.
        return self._forward(ids, logits_to_keep=1)[-1]

    def extend(self, ids: list[int]) -> torch.Tensor:
        """Append `ids` to the cache and return one logits row per new token: [T] -> [T, V]."""
        if not ids:
            raise ValueError("extend needs at least one token id, got an empty list")
        return self._forward(ids, logits_to_keep=0)

    def rollback(self, length: int) -> None:
        """Crop the cache to its first `length` tokens; a cache that is already that short is left alone."""
        if length < 0:
            raise ValueError(f"rollback length must be >= 0, got {length}")
        surplus = self.cache_length - length
        if surplus > 0:
            self.cache.crop(-surplus)

    @torch.inference_mode()
    def _forward(self, ids: list[int], logits_to_keep: int) -> torch.Tensor:
        if self.cache_length + len(ids) > self.context_length:
            raise ValueError(
                f"{self.name}: {self.cache_length + len(ids)} tokens exceed the context window of "
                f"{self.context_length}; shorten the prompt or lower max_new_tokens"
            )
        input_ids = torch.tensor([ids], dtype=torch.long)  # [T] -> [1, T]
        start = time.perf_counter()
        out = self.model(
            input_ids=input_ids,
            cache=self.cache,
            use_cache=True,
            logits_to_keep=logits_to_keep,
            output_hidden_states=self.keep_hidden_states,
        )
        self.forward_seconds += time.perf_counter() - start
        self.forward_count += 1
        if self.keep_hidden_states:
            self.last_hidden_states = out.hidden_states[-1][0]  # [1, T, hidden] -> [T, hidden]
        return out.logits[0].float()  # [1, T, V] -> [T, V]

    # --- text and tokens -----------------------------------------------------------------------------------

    def encode(self, prompt: str, *, chat: bool = True) -> list[int]:
        """Tokenise a prompt once, through the chat template when the model has one and `chat` is set."""
        if self.tokenizer is None:
            raise ValueError(f"{self.name} has no tokenizer; pass token ids instead of text")
        if not prompt or not prompt.strip():
            raise ValueError("the prompt is empty; pass some text to continue")
        if chat and getattr(self.tokenizer, "chat_template", None):
            messages = [{"role": "user", "content": prompt}]
            ids = self.tokenizer.apply_chat_template(messages, add_generation_prompt=True, tokenize=True)
            if hasattr(ids, "keys"):  # transformers 5 returns a BatchEncoding here
                ids = ids["input_ids"]
        else:
            ids = self.tokenizer(prompt)["input_ids"]
        return [int(i) for i in ids]

    def decode(self, ids: list[int]) -> str:
        if self.tokenizer is None:
            return " ".join(str(i) for i in ids)
        return self.tokenizer.decode(ids, skip_special_tokens=True)

    def pieces(self, ids: list[int]) -> list[str]:
        """Split decode(ids) into one piece per token, so each token can be coloured on its own.

        subtle: decoding tokens one by one breaks characters that span several byte-level tokens, so each
        piece is the growth of the decoded prefix, and a token that ends inside a character gets "" until the
        character completes.
        """
        pieces, previous = [], ""
        for i in range(1, len(ids) + 1):
            text = self.decode(ids[:i])
            if text.endswith("\ufffd"):
                pieces.append("")
                continue
            pieces.append(text[len(previous) :])
            previous = text
        return pieces

    def find_eos_token_ids(self) -> set[int]:
        """Collect every token id that ends a reply: the tokenizer's EOS, the generation config's, and the chat end marker."""
        ids: set[int] = set()
        for value in (
            getattr(self.tokenizer, "eos_token_id", None),
            getattr(getattr(self.model, "generation_config", None), "eos_token_id", None),
        ):
            if isinstance(value, int):
                ids.add(value)
            elif isinstance(value, (list, tuple)):
                ids.update(int(v) for v in value)
        if self.tokenizer is not None:
            for marker in ("<|im_end|>", "<|endoftext|>", "<|eot_id|>", "<end_of_turn>"):
                token = self.tokenizer.get_vocab().get(marker)
                if token is not None:
                    ids.add(int(token))
        return ids


class DraftSizeWarning(UserWarning):
    """The draft model is not smaller than the target: allowed, but it cannot make decoding faster."""


def parameter_count(model) -> int | None:
    """Parameters of a `CausalLM`'s network, or None for models without one (the toy tables)."""
    network = getattr(model, "model", None)
    return sum(w.numel() for w in network.parameters()) if hasattr(network, "parameters") else None


def check_compatible(target, draft) -> None:
    """Raise ValueError unless draft and target share one vocabulary; call it before any forward pass.

    Speculative sampling compares p(x) and q(x) for the same token id x, so both models must mean the same
    string by every id. Matching sizes are not enough: the token tables themselves must agree.
    A draft at least as large as the target passes with a `DraftSizeWarning`: the output stays exact, but
    each drafted token costs a full target step or more, so there is nothing to gain.
    """
    target_tok = getattr(target, "tokenizer", None)
    draft_tok = getattr(draft, "tokenizer", None)
    if target_tok is not None and draft_tok is not None:
        target_vocab, draft_vocab = target_tok.get_vocab(), draft_tok.get_vocab()
        if target_vocab != draft_vocab:
            shared = sum(1 for token, i in draft_vocab.items() if target_vocab.get(token) == i)
            raise ValueError(
                f"the draft {draft.name} (vocabulary of {len(draft_vocab):,} tokens) and the target "
                f"{target.name} (vocabulary of {len(target_vocab):,} tokens) do not share a tokenizer: only "
                f"{shared:,} ids map to the same token. A compatible draft is a smaller model of the same family "
                "with the same tokenizer (for qwen2.5-coder-1.5b: qwen2.5-coder-0.5b), or use prompt lookup "
                "drafting (--drafter prompt-lookup), which needs no second model."
            )
    if target.vocab_size != draft.vocab_size:
        raise ValueError(
            f"the draft {draft.name} has {draft.vocab_size:,} logits per row but the target {target.name} has "
            f"{target.vocab_size:,}; both models must score the same vocabulary. Pick a draft of the same family."
        )
    draft_size, target_size = parameter_count(draft), parameter_count(target)
    if draft_size is not None and target_size is not None and draft_size >= target_size:
        warnings.warn(
            f"the draft {draft.name} ({draft_size / 1e6:,.0f}M parameters) is not smaller than the target "
            f"{target.name} ({target_size / 1e6:,.0f}M parameters). The output is still exactly the target's, but "
            "drafting costs as much as decoding, so expect a slow-down. Use a smaller draft of the same family "
            "(for qwen2.5-coder-1.5b: qwen2.5-coder-0.5b), or prompt lookup.",
            DraftSizeWarning, stacklevel=2,
        )
