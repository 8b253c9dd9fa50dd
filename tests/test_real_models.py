"""The decoder on real pretrained models: greedy identity, vocabulary checks and the cache invariant (slow)."""

import pytest

from specdec_mini import domains
from specdec_mini.decoding import GenerationConfig, autoregressive_generate, speculative_generate, speculative_rounds
from specdec_mini.drafters import DraftModelDrafter, PromptLookupDrafter
from specdec_mini.equivalence import greedy_divergence
from specdec_mini.models import CausalLM

pytestmark = pytest.mark.slow


def assert_greedy_identical(target, prompt_ids, plain, spec, label):
    divergence = greedy_divergence(target, prompt_ids, plain.tokens, spec.tokens)
    if divergence is not None:
        assert divergence.near_tie, (
            f"{label}: speculative output differs from plain greedy at new token {divergence.position} "
            f"{divergence.tokens} where the target's top-2 logit gap is {divergence.top2_gap:.2e} (not a near-tie)"
        )
    else:
        assert len(plain.tokens) == len(spec.tokens), f"{label}: lengths {len(plain.tokens)} != {len(spec.tokens)}"


@pytest.mark.parametrize("k", [2, 5])
def test_smollm_greedy_identical(smollm, k):
    prompt_ids = smollm.encode(domains.get("code-completion").prompt)
    config = GenerationConfig(max_new_tokens=28, k=k)
    plain = autoregressive_generate(smollm, prompt_ids, config)
    self_draft = DraftModelDrafter(CausalLM(smollm.model, smollm.tokenizer, name="smollm self-draft"))
    for drafter in (self_draft, PromptLookupDrafter()):
        spec = speculative_generate(smollm, drafter, prompt_ids, config)
        assert_greedy_identical(smollm, prompt_ids, plain, spec, f"{drafter.name}, k={k}")
    assert spec.tokens_per_target_forward >= 1.0


def test_smollm_cache_invariant(smollm):
    prompt_ids = smollm.encode("List three prime numbers.")
    draft = CausalLM(smollm.model, smollm.tokenizer, name="smollm self-draft")
    committed = list(prompt_ids)
    config = GenerationConfig(max_new_tokens=30, k=3, temperature=0.8, seed=1)
    for round_ in speculative_rounds(smollm, DraftModelDrafter(draft), prompt_ids, config):
        committed += round_.tokens
        assert round_.target_forwards == 1, "more than one target forward in a round"
        assert smollm.cache_length == len(committed) - 1, f"target cache {smollm.cache_length} != {len(committed) - 1}"


def test_l5_smollm_draft_for_qwen_rejected(qwen_pair, smollm):
    target, _ = qwen_pair
    target.reset_counters()
    smollm.reset_counters()
    prompt_ids = target.encode("def add(a, b):")
    with pytest.raises(ValueError) as error:
        speculative_generate(target, DraftModelDrafter(smollm), prompt_ids, GenerationConfig(max_new_tokens=4))
    message = str(error.value)
    assert "151,6" in message or "151,9" in message, f"message does not name Qwen's vocabulary: {message}"
    assert "49,152" in message, f"message does not name SmolLM2's vocabulary: {message}"
    assert "qwen2.5-coder-0.5b" in message, f"message does not say what a compatible draft is: {message}"
    assert target.forward_count == 0 and smollm.forward_count == 0, "a forward pass ran before the check"


@pytest.mark.parametrize("prompt", domains.SUITE, ids=lambda p: p.domain)
def test_l6_qwen_greedy_identical_per_domain(qwen_pair, prompt):
    target, draft = qwen_pair
    prompt_ids = target.encode(prompt.prompt)
    config = GenerationConfig(max_new_tokens=20, k=4)
    plain = autoregressive_generate(target, prompt_ids, config)
    spec = speculative_generate(target, DraftModelDrafter(draft), prompt_ids, config)
    assert_greedy_identical(target, prompt_ids, plain, spec, prompt.domain)
    assert spec.acceptance_rate is not None and 0.0 <= spec.acceptance_rate <= 1.0


def test_smollm_int8_draft_exact_and_useful(smollm):
    prompt_ids = smollm.encode(domains.get("code-completion").prompt)
    config = GenerationConfig(max_new_tokens=24, k=4)
    plain = autoregressive_generate(smollm, prompt_ids, config)
    draft = CausalLM.load("smollm2-135m", progress=False, weights="int8")
    spec = speculative_generate(smollm, DraftModelDrafter(draft), prompt_ids, config)
    assert_greedy_identical(smollm, prompt_ids, plain, spec, "int8 self-draft")
    # The int8 copy of the target guesses most of its tokens: quantisation costs little acceptance.
    assert spec.acceptance_rate > 0.6, f"int8 self-draft acceptance {spec.acceptance_rate:.2f}"
