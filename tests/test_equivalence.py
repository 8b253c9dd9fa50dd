"""Speculative sampling has exactly the target's distribution: by enumeration, then by experiment."""

import pytest

from specdec_mini.drafters import DraftModelDrafter
from specdec_mini.equivalence import (
    BROKEN_VERIFIERS,
    ArgmaxDrafter,
    compare_to_law,
    max_abs_difference,
    sample_outputs,
    speculative_law,
    target_law,
)
from specdec_mini.sampling import SamplingSettings
from specdec_mini.toy import TableLM

SETTINGS = [
    SamplingSettings(temperature=1.0),
    SamplingSettings(temperature=0.6),
    SamplingSettings(temperature=1.0, top_k=2),
    SamplingSettings(temperature=1.4, top_p=0.7),
    SamplingSettings(temperature=0.0),
]


@pytest.mark.parametrize("k", [1, 2, 3, 4])
@pytest.mark.parametrize("settings", SETTINGS, ids=str)
def test_exact_law_equals_target(toy_pair, k, settings):
    target, draft = toy_pair
    exact = target_law(target, [1], 5, settings)
    speculative = speculative_law(target, draft, [1], 5, k, settings)
    assert abs(sum(speculative.values()) - 1.0) < 1e-12, "the speculative law does not sum to 1"
    difference = max_abs_difference(exact, speculative)
    assert difference < 1e-12, f"k={k}: max |P_spec - P_target| = {difference:.2e}"


def test_exact_law_with_different_draft_settings(toy_pair):
    target, draft = toy_pair
    p_settings = SamplingSettings(temperature=0.8, top_p=0.9)
    q_settings = SamplingSettings(temperature=1.5, top_k=3)
    difference = max_abs_difference(
        target_law(target, [2], 4, p_settings), speculative_law(target, draft, [2], 4, 3, p_settings, q_settings)
    )
    assert difference < 1e-12, f"max difference {difference:.2e} with a differently processed draft"


@pytest.mark.parametrize("k, settings", [
    (1, SamplingSettings(temperature=1.0)),
    (2, SamplingSettings(temperature=0.7, top_k=3)),
    (3, SamplingSettings(temperature=1.2, top_p=0.8)),
])
def test_monte_carlo_matches_law_beyond_first_round(k, settings):
    # Three tokens over a 3-token vocabulary: 27 outcomes, most of them spanning two or more rounds.
    target = TableLM.random(3, order=2, seed=5, scale=1.2, name="target")
    draft = target.perturbed(1.0, seed=6)
    law = target_law(target, [0], 3, settings)
    counts = sample_outputs(target, [0], 3, trials=20_000, drafter=DraftModelDrafter(draft), k=k, settings=settings)
    result = compare_to_law(counts, law)
    assert result.p_value > 1e-3, f"chi-square rejects the correct sampler: {result}"
    assert result.tv < 3 * result.tv_noise, f"TV {result.tv:.4f} above 3x noise {result.tv_noise:.4f}"


@pytest.mark.parametrize("broken", [*BROKEN_VERIFIERS, "argmax draft"])
def test_monte_carlo_catches_broken_rules(broken):
    target = TableLM.random(3, order=2, seed=5, scale=1.2, name="target")
    draft = target.perturbed(1.0, seed=6)
    settings = SamplingSettings(temperature=1.0)
    if broken == "argmax draft":
        counts = sample_outputs(target, [0], 3, trials=5_000, drafter=ArgmaxDrafter(draft), k=2, settings=settings)
    else:
        counts = sample_outputs(target, [0], 3, trials=5_000, drafter=DraftModelDrafter(draft), k=2,
                                settings=settings, verifier=BROKEN_VERIFIERS[broken])
    result = compare_to_law(counts, target_law(target, [0], 3, settings))
    assert result.p_value < 1e-6, f"{broken}: the test failed to reject a broken rule: {result}"
    assert not result.consistent


def test_plain_sampling_matches_law():
    target = TableLM.random(3, order=2, seed=5, scale=1.2)
    settings = SamplingSettings(temperature=1.0)
    counts = sample_outputs(target, [0], 3, trials=10_000, settings=settings)
    result = compare_to_law(counts, target_law(target, [0], 3, settings))
    assert result.consistent, f"plain sampling disagrees with its own law: {result}"
