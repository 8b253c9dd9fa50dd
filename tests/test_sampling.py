"""The rejection rule on hand-built distributions: the R cases, each with the wrong answers it must not give."""

import pytest
import torch

from specdec_mini.decoding import GenerationConfig, speculative_rounds
from specdec_mini.drafters import DraftModelDrafter, PromptLookupDrafter
from specdec_mini.equivalence import BROKEN_VERIFIERS, ArgmaxDrafter, compare_to_law, sample_outputs, target_law
from specdec_mini.sampling import (
    SamplingSettings,
    acceptance_probability,
    probabilities,
    residual_distribution,
    verify,
)
from specdec_mini.toy import TableLM

from conftest import constant_model

SOFT = SamplingSettings(temperature=1.0)
TRIALS = 50_000


def first_token_frequency(target, drafter, token=0, trials=TRIALS, verifier=verify, settings=SOFT, draft_settings=None):
    """Share of runs whose first emitted token is `token`; each run drafts k = 1 and emits 2 tokens."""
    counts = sample_outputs(target, [0], n_tokens=2, trials=trials, drafter=drafter, k=1, settings=settings,
                            verifier=verifier, draft_settings=draft_settings)
    return sum(n for seq, n in counts.items() if seq[0] == token) / trials


def test_r1_two_token_example_gives_p():
    target, draft = constant_model([0.6, 0.4], "p"), constant_model([0.8, 0.2], "q")
    freq = first_token_frequency(target, DraftModelDrafter(draft))
    assert abs(freq - 0.60) < 0.01, f"P(first token = 0) = {freq:.4f}, expected 0.60 +- 0.01"


def test_r1_wrong_variants_are_caught():
    target, draft = constant_model([0.6, 0.4], "p"), constant_model([0.8, 0.2], "q")
    argmax = first_token_frequency(target, ArgmaxDrafter(draft), trials=20_000)
    resample = first_token_frequency(target, DraftModelDrafter(draft), trials=20_000,
                                     verifier=BROKEN_VERIFIERS["resample from p"])
    assert abs(argmax - 0.75) < 0.015, f"argmax draft with soft ratio gave {argmax:.4f}, expected about 0.75"
    assert abs(resample - 0.72) < 0.015, f"resampling from p gave {resample:.4f}, expected about 0.72"


def test_r2_opposite_distributions():
    target, draft = constant_model([0.1, 0.9], "p"), constant_model([0.9, 0.1], "q")
    freq = first_token_frequency(target, DraftModelDrafter(draft))
    inverted = first_token_frequency(target, DraftModelDrafter(draft), trials=20_000,
                                     verifier=BROKEN_VERIFIERS["inverted ratio"])
    assert abs(freq - 0.10) < 0.01, f"P(token 0) = {freq:.4f}, expected 0.10 +- 0.01"
    assert abs(inverted - 0.90) < 0.015, f"the inverted ratio q/p gave {inverted:.4f}, expected about 0.90"


@pytest.mark.parametrize("p", [
    torch.tensor([0.25, 0.25, 0.5]),  # soft and equal
    torch.tensor([0.0, 1.0, 0.0]),  # one-hot and equal
    torch.tensor([1e-30, 1.0 - 1e-30, 0.0]),  # a tiny probability
])
def test_r3_equal_distributions(p):
    for x in torch.nonzero(p).flatten().tolist():
        assert acceptance_probability(p, p.clone(), x) == 1.0, f"p == q must accept token {x} always"
    residual = residual_distribution(p, p.clone())
    assert not torch.isnan(residual).any(), f"residual of p == q has NaN: {residual}"
    assert torch.isclose(residual.sum(), torch.tensor(1.0)), f"residual sums to {residual.sum()}, expected 1"


def test_r4_disjoint_support_rejects_every_draft():
    p, q = torch.tensor([0.0, 0.5, 0.5]), torch.tensor([1.0, 0.0, 0.0])
    assert acceptance_probability(p, q, 0) == 0.0, "a draft token with p = 0 must never be accepted"
    target, draft = constant_model([0.0, 0.5, 0.5], "p"), constant_model([1.0, 0.0, 0.0], "q")
    counts = sample_outputs(target, [0], n_tokens=2, trials=10_000, drafter=DraftModelDrafter(draft), k=1)
    zeros = sum(n for seq, n in counts.items() if 0 in seq)
    ones = sum(n for seq, n in counts.items() if seq[0] == 1) / 10_000
    assert zeros == 0, f"token 0 has p = 0 but was emitted {zeros} times"
    assert abs(ones - 0.5) < 0.02, f"P(first token = 1) = {ones:.4f}, expected 0.50 +- 0.02"


def test_r5_deterministic_draft_accepts_with_p():
    p = torch.tensor([0.5, 0.3, 0.2])
    assert acceptance_probability(p, None, 0) == 0.5, "one-hot q must accept x with probability p(x)"
    residual = residual_distribution(p, None, token=0)
    assert torch.allclose(residual, torch.tensor([0.0, 0.6, 0.4])), f"residual {residual}, expected p without x"


def test_r5_prompt_lookup_output_follows_p():
    # The prompt [0, 1, 0] makes lookup propose 1 after every 0; the target's p does not care.
    target = constant_model([0.5, 0.3, 0.2], "p")
    counts = sample_outputs(target, [0, 1, 0], n_tokens=3, trials=20_000, drafter=PromptLookupDrafter(), k=2)
    law = target_law(target, [0, 1, 0], 3, SOFT)
    result = compare_to_law(counts, law)
    assert result.consistent, f"prompt lookup output differs from p: {result}"
    accept_all = sample_outputs(target, [0, 1, 0], n_tokens=3, trials=5_000, drafter=PromptLookupDrafter(), k=2,
                                verifier=BROKEN_VERIFIERS["accept everything"])
    assert compare_to_law(accept_all, law).p_value < 1e-6, "accepting every lookup match must be caught"


def test_r6_temperature_applies_to_target():
    probs = probabilities(torch.tensor([2.0, 1.0, 0.0]), SamplingSettings(temperature=0.5))
    expected = torch.tensor([0.867, 0.117, 0.016])
    assert torch.allclose(probs, expected, atol=1e-3), f"law {probs}, expected {expected}"


def test_r6_temperature_through_the_decoder():
    logits = torch.tensor([2.0, 1.0, 0.0], dtype=torch.float64)
    target = TableLM(logits.repeat(4, 1), order=1, name="p")
    draft = constant_model([0.2, 0.3, 0.5], "q")
    settings = SamplingSettings(temperature=0.5)
    freq = first_token_frequency(target, DraftModelDrafter(draft), settings=settings)
    assert abs(freq - 0.867) < 0.01, f"P(token 0) = {freq:.4f} at temperature 0.5, expected 0.867 +- 0.01"


def test_r7_draft_top_k_restricts_proposals():
    target = TableLM.random(8, order=1, seed=3, scale=1.0, name="p")
    draft = target.perturbed(0.5, seed=4)
    draft_settings = SamplingSettings(temperature=1.0, top_k=3)
    target_settings = SamplingSettings(temperature=1.0, top_k=8)
    drafter = DraftModelDrafter(draft)

    config = GenerationConfig(max_new_tokens=6, k=3, temperature=1.0, top_k=8)
    for seed in range(200):
        config = GenerationConfig(max_new_tokens=6, k=3, temperature=1.0, top_k=8, seed=seed)
        context = [0]
        for round_ in speculative_rounds(target, drafter, [0], config, draft_settings):
            for i, token in enumerate(round_.drafted):
                top3 = torch.topk(draft.next_logits(context + round_.drafted[:i]), 3).indices.tolist()
                assert token in top3, f"drafted {token} outside the draft's top 3 {top3}"
            context += round_.tokens

    counts = sample_outputs(target, [0], n_tokens=2, trials=20_000, drafter=drafter, k=1,
                            settings=target_settings, draft_settings=draft_settings)
    result = compare_to_law(counts, target_law(target, [0], 2, target_settings))
    assert result.consistent, f"output law differs from the target's with a top-3 draft: {result}"


@pytest.mark.parametrize("settings", [
    SamplingSettings(temperature=0.7, top_k=2),
    SamplingSettings(temperature=1.3, top_p=0.6),
    SamplingSettings(temperature=1.0, top_k=3, top_p=0.9),
])
def test_processed_distribution_is_valid(settings):
    logits = torch.randn(5, 10, generator=torch.Generator().manual_seed(0))
    probs = probabilities(logits, settings)
    assert torch.allclose(probs.sum(-1), torch.ones(5)), f"rows sum to {probs.sum(-1)}"
    if settings.top_k:
        assert ((probs > 0).sum(-1) <= settings.top_k).all(), f"more than top_k={settings.top_k} tokens survive"


def test_nan_logits_raise():
    with pytest.raises(ValueError, match="NaN"):
        probabilities(torch.tensor([0.0, float("nan")]), SOFT)


@pytest.mark.parametrize("kwargs, fragment", [
    ({"temperature": -0.1}, "temperature"),
    ({"top_p": 0.0}, "top_p"),
    ({"top_p": 1.5}, "top_p"),
    ({"top_k": 0}, "top_k"),
])
def test_invalid_sampling_settings(kwargs, fragment):
    with pytest.raises(ValueError, match=fragment):
        SamplingSettings(**kwargs)
