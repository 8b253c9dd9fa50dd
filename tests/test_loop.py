"""The round loop: cache lengths, forward counts, EOS and max_new_tokens cuts, and the statistics (L and M cases)."""

import copy
import warnings

import pytest
import torch

from specdec_mini.decoding import (
    GenerationConfig,
    autoregressive_generate,
    speculative_generate,
    speculative_rounds,
)
from specdec_mini.drafters import DraftModelDrafter, PromptLookupDrafter
from specdec_mini.models import CausalLM, DraftSizeWarning
from specdec_mini.sampling import SamplingSettings
from specdec_mini.toy import TableLM, tiny_transformer

from conftest import constant_model


def run_checking_caches(target, drafter, prompt, config):
    """Run the rounds and assert the cache invariant and one target forward after every round."""
    committed = list(prompt)
    rounds = []
    for round_ in speculative_rounds(target, drafter, prompt, config):
        committed += round_.tokens
        rounds.append(round_)
        assert round_.target_forwards == 1, f"round {len(rounds)} ran {round_.target_forwards} target forwards"
        assert target.cache_length == len(committed) - 1, (
            f"target cache {target.cache_length} != committed {len(committed)} - 1 after round {len(rounds)}"
        )
        if hasattr(drafter, "model"):
            # After a round without a correction the draft may not have fed its last token yet (see decoding.py).
            lagging = round_.kinds[-1] != "correction"
            allowed = {len(committed) - 1, len(committed) - 2} if lagging else {len(committed) - 1}
            assert drafter.model.cache_length in allowed, (
                f"draft cache {drafter.model.cache_length} not in {allowed} after round {len(rounds)}"
            )
    return committed[len(prompt):], rounds


@pytest.mark.parametrize("k", [1, 2, 4, 7])
@pytest.mark.parametrize("temperature", [0.0, 1.0])
def test_cache_invariant_tiny_transformer(k, temperature):
    target, draft = tiny_transformer(seed=0), tiny_transformer(seed=0)
    with torch.no_grad():  # a draft close to the target, so rounds mix acceptances and rejections
        for param in draft.model.parameters():
            param.add_(0.05 * torch.randn_like(param))
    config = GenerationConfig(max_new_tokens=40, k=k, temperature=temperature, seed=3)
    tokens, rounds = run_checking_caches(target, DraftModelDrafter(draft), [1, 2, 3], config)
    assert len(tokens) == 40, f"expected 40 new tokens, got {len(tokens)}"


@pytest.mark.parametrize("k", [1, 3, 5])
def test_greedy_equals_plain_tiny_transformer(k):
    target, draft = tiny_transformer(seed=0), tiny_transformer(seed=0)
    with torch.no_grad():
        for param in draft.model.parameters():
            param.add_(0.05 * torch.randn_like(param))
    config = GenerationConfig(max_new_tokens=50, k=k)
    plain = autoregressive_generate(target, [5, 6, 7], config)
    spec = speculative_generate(target, DraftModelDrafter(draft), [5, 6, 7], config)
    lookup = speculative_generate(target, PromptLookupDrafter(), [5, 6, 7], config)
    assert spec.tokens == plain.tokens, f"draft model: {spec.tokens} != plain {plain.tokens}"
    assert lookup.tokens == plain.tokens, f"prompt lookup: {lookup.tokens} != plain {plain.tokens}"


def test_l1_all_rejected_round_grows_by_one():
    # Greedy target always picks 1, greedy draft always picks 0: every draft is rejected.
    target, draft = constant_model([0.1, 0.9], "p"), constant_model([0.9, 0.1], "q")
    drafter = DraftModelDrafter(draft)
    rounds = speculative_rounds(target, drafter, [0, 1, 0], GenerationConfig(max_new_tokens=10, k=4))
    first = next(rounds)
    assert first.accepted == 0 and first.rejected == 1, f"expected a rejected round, got {first}"
    assert first.tokens == [1], f"expected the correction [1], got {first.tokens}"
    assert target.cache_length == 3, f"target cache {target.cache_length}, expected 3 (4 committed - 1)"
    assert draft.cache_length == 3, f"draft cache {draft.cache_length}, expected 3 (4 committed - 1)"


@pytest.mark.parametrize("k", [2, 3, 6])
def test_l2_self_draft_accepts_everything(k):
    model = tiny_transformer(seed=0)
    same = CausalLM(model.model, name="self draft")
    config = GenerationConfig(max_new_tokens=7 * (k + 1), k=k)
    plain = autoregressive_generate(model, [1, 2], config)
    spec = speculative_generate(model, DraftModelDrafter(same), [1, 2], config)
    assert spec.acceptance_rate == 1.0, f"acceptance rate {spec.acceptance_rate}, expected 1.0"
    for i, round_ in enumerate(spec.rounds[:-1]):
        assert len(round_.tokens) == k + 1, f"round {i} committed {len(round_.tokens)} tokens, expected {k + 1}"
    assert spec.tokens == plain.tokens, "self-drafted output differs from plain greedy"


def test_l3_eos_inside_a_block():
    model = tiny_transformer(seed=0)
    config = GenerationConfig(max_new_tokens=40, k=4)
    first = speculative_generate(model, DraftModelDrafter(CausalLM(model.model, name="self")), [1, 2], config)
    # Declare a token from the middle of a drafted block to be EOS, then run again.
    block = next(r for r in first.rounds if r.accepted >= 3)
    eos = block.tokens[1]
    model.eos_token_ids = {eos}
    draft = CausalLM(model.model, name="self")
    plain = autoregressive_generate(model, [1, 2], config)
    streamed = []
    spec = speculative_generate(model, DraftModelDrafter(draft), [1, 2], config, on_round=lambda r: streamed.extend(r.tokens))
    cut = plain.tokens[: plain.tokens.index(eos) + 1]
    assert plain.tokens == cut, "plain decoding emitted tokens after EOS"
    assert spec.tokens == cut, f"speculative output {spec.tokens} != plain output cut at EOS {cut}"
    assert streamed == cut, f"streamed {streamed}, expected {cut}"
    assert spec.accepted + spec.rejected <= len(cut), "tokens after EOS were counted"
    assert spec.stop == "eos", f"stop reason {spec.stop}, expected eos"


@pytest.mark.parametrize("drafter_kind", ["model", "lookup"])
def test_l4_max_new_tokens_below_k(drafter_kind):
    target = TableLM.random(5, seed=0)
    drafter = DraftModelDrafter(target.perturbed(0.1)) if drafter_kind == "model" else PromptLookupDrafter()
    for temperature in (0.0, 1.0):
        config = GenerationConfig(max_new_tokens=3, k=8, temperature=temperature)
        result = speculative_generate(target, drafter, [1, 2, 1, 2, 1], config)
        assert len(result.tokens) == 3, f"expected exactly 3 new tokens, got {len(result.tokens)}"


@pytest.mark.parametrize("max_new_tokens", [1, 2])
def test_tiny_budgets(max_new_tokens):
    target = TableLM.random(5, seed=0)
    config = GenerationConfig(max_new_tokens=max_new_tokens, k=4)
    result = speculative_generate(target, DraftModelDrafter(target.perturbed(0.1)), [1], config)
    plain = autoregressive_generate(target, [1], config)
    assert result.tokens == plain.tokens, f"{result.tokens} != plain {plain.tokens}"


def test_m1_eos_inside_accepted_block_counts_three():
    # Draft == target, greedy, and the target's chain is 1 -> 2 -> 3 -> 0 -> ... with 3 declared EOS.
    table = torch.full((6, 5), -5.0, dtype=torch.float64)
    for previous, following in {0: 1, 1: 2, 2: 3, 3: 4, 4: 1, 5: 1}.items():
        table[previous, following] = 5.0
    target = TableLM(table, order=1, name="chain", eos_token_ids={3})
    draft = TableLM(table.clone(), order=1, name="chain draft")
    result = speculative_generate(target, DraftModelDrafter(draft), [0], GenerationConfig(max_new_tokens=20, k=5))
    assert result.tokens == [1, 2, 3], f"expected [1, 2, 3], got {result.tokens}"
    assert result.accepted == 3, f"counted {result.accepted} accepted tokens, expected 3"
    assert len(result.rounds) == 1, f"expected one round, got {len(result.rounds)}"


def test_m2_acceptance_rate_definition():
    # The draft always proposes token 0 and p(0) = 0.8, so each drafted token survives with probability 0.8.
    target, draft = constant_model([0.8, 0.2], "p"), constant_model([1.0, 0.0], "q")
    config = GenerationConfig(max_new_tokens=6000, k=4, temperature=1.0, seed=0)
    result = speculative_generate(target, DraftModelDrafter(draft), [0], config)
    checked = result.accepted + result.rejected
    tolerance = 4 * (0.8 * 0.2 / checked) ** 0.5
    assert abs(result.acceptance_rate - 0.8) < tolerance, f"acceptance rate {result.acceptance_rate:.4f}, expected 0.8"
    assert abs(result.draft_utilisation - 0.59) < 0.02, f"accepted / drafted = {result.draft_utilisation:.4f}"
    assert abs(result.tokens_per_target_forward - 3.36) < 0.08, f"{result.tokens_per_target_forward:.3f} tokens/forward"


def test_invalid_config_values():
    for kwargs, fragment in [({"k": 0}, "k"), ({"k": 1000}, "k"), ({"max_new_tokens": 0}, "max_new_tokens"),
                             ({"temperature": -1.0}, "temperature"), ({"top_p": 2.0}, "top_p")]:
        with pytest.raises(ValueError, match=fragment):
            GenerationConfig(**kwargs)


def test_prompt_checks():
    target = TableLM.random(5, seed=0)
    drafter = DraftModelDrafter(target.perturbed(0.1))
    with pytest.raises(ValueError, match="empty"):
        speculative_generate(target, drafter, [], GenerationConfig())
    with pytest.raises(ValueError, match="must lie in"):
        speculative_generate(target, drafter, [1, 99], GenerationConfig())
    small = tiny_transformer(seed=0)
    with pytest.raises(ValueError, match="context window"):
        speculative_generate(small, PromptLookupDrafter(), [1] * 500, GenerationConfig(max_new_tokens=20))


def test_mismatched_vocabularies_rejected_before_forward():
    target, draft = TableLM.random(5, seed=0), TableLM.random(6, seed=0)
    with pytest.raises(ValueError, match="same vocabulary"):
        speculative_generate(target, DraftModelDrafter(draft), [1], GenerationConfig())
    assert target.forward_count == 0 and draft.forward_count == 0, "a forward pass ran before the check"


def test_seed_reproducible():
    target = TableLM.random(6, seed=0)
    drafter = DraftModelDrafter(target.perturbed(0.8))
    config = GenerationConfig(max_new_tokens=30, k=3, temperature=1.0, seed=42)
    first = speculative_generate(target, drafter, [1], config)
    second = speculative_generate(target, drafter, [1], config)
    assert first.tokens == second.tokens, "the same seed gave different outputs"


def test_large_draft_warns_stays_exact():
    target = tiny_transformer(vocab_size=32, seed=0, hidden_size=32)
    big_draft = tiny_transformer(vocab_size=32, seed=1, hidden_size=64)
    config = GenerationConfig(max_new_tokens=12, k=3)
    with pytest.warns(DraftSizeWarning, match="is not smaller than the target") as caught:
        spec = speculative_generate(target, DraftModelDrafter(big_draft), [1, 2, 3], config)
    assert "qwen2.5-coder-0.5b" in str(caught[0].message), "the warning must name a fix"
    assert spec.tokens == autoregressive_generate(target, [1, 2, 3], config).tokens, "a big draft changed the output"


def test_smaller_draft_gives_no_size_warning():
    target = tiny_transformer(vocab_size=32, seed=0, hidden_size=64)
    small_draft = tiny_transformer(vocab_size=32, seed=1, hidden_size=32)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        speculative_generate(target, DraftModelDrafter(small_draft), [1, 2, 3], GenerationConfig(max_new_tokens=4))
    assert not [w for w in caught if issubclass(w.category, DraftSizeWarning)], [str(w.message) for w in caught]


def int8_copy(lm: CausalLM) -> CausalLM:
    """The same network with int8 linear layers, as `CausalLM.load(..., weights="int8")` builds it."""
    return CausalLM(copy.deepcopy(lm.model), name=f"{lm.name} (int8)", weights="int8")


def test_int8_draft_has_no_float_linears():
    draft = int8_copy(tiny_transformer(vocab_size=32, seed=1))
    left = [name for name, m in draft.model.named_modules() if isinstance(m, torch.nn.Linear)]
    assert not left, f"float32 linear layers left after quantisation: {left}"


def test_int8_draft_changes_its_logits():
    draft = tiny_transformer(vocab_size=32, seed=1)
    quantised = int8_copy(draft)
    gap = (draft.prefill([1, 2, 3]) - quantised.prefill([1, 2, 3])).abs().max().item()
    assert gap > 1e-4, f"int8 logits equal float32 ones within {gap:.1e}: the weights were not quantised"


@pytest.mark.parametrize("k", [1, 4])
def test_int8_draft_keeps_greedy_output(k):
    target = tiny_transformer(vocab_size=32, seed=0, hidden_size=64)
    draft = int8_copy(tiny_transformer(vocab_size=32, seed=1))
    config = GenerationConfig(max_new_tokens=24, k=k)
    spec = speculative_generate(target, DraftModelDrafter(draft), [1, 2, 3], config)
    assert spec.tokens == autoregressive_generate(target, [1, 2, 3], config).tokens, "an int8 draft changed the output"


def test_unknown_weight_format_is_named():
    model = tiny_transformer(vocab_size=32, seed=1).model
    with pytest.raises(ValueError, match="'int4'.*float32, int8|float32, int8.*'int4'"):
        CausalLM(model, weights="int4")
