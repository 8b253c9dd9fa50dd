"""Property tests of the sampling core: for any p and q the rejection rule stays a valid, exact sampler."""

import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from specdec_mini.sampling import (
    SamplingSettings,
    acceptance_probability,
    probabilities,
    residual_distribution,
    sample,
    verify,
)

VOCAB = 6


@st.composite
def distributions(draw, vocab=VOCAB):
    """A probability vector: soft, one-hot, with exact zeros or with tiny entries, in float32 or float64."""
    kind = draw(st.sampled_from(["soft", "one-hot", "sparse", "tiny"]))
    dtype = draw(st.sampled_from([torch.float32, torch.float64]))
    if kind == "one-hot":
        probs = torch.zeros(vocab, dtype=dtype)
        probs[draw(st.integers(0, vocab - 1))] = 1.0
        return probs
    weights = draw(st.lists(st.floats(0.0, 1.0), min_size=vocab, max_size=vocab))
    probs = torch.tensor(weights, dtype=dtype)
    if kind == "sparse":
        probs[draw(st.integers(0, vocab - 1))] = 0.0
    if kind == "tiny":
        probs[draw(st.integers(0, vocab - 1))] = 1e-30
    if probs.sum() <= 0:
        probs[0] = 1.0
    return probs / probs.sum()


@settings(max_examples=300, deadline=None)
@given(p=distributions(), q=distributions(), token=st.integers(0, VOCAB - 1))
def test_acceptance_probability_in_unit_interval(p, q, token):
    a = acceptance_probability(p, q, token)
    assert 0.0 <= a <= 1.0, f"acceptance probability {a} outside [0, 1]"
    if p[token] == 0:
        assert a == 0.0, f"a token with p = 0 has acceptance probability {a}"


@settings(max_examples=300, deadline=None)
@given(p=distributions(), q=distributions(), token=st.integers(0, VOCAB - 1), one_hot_q=st.booleans())
def test_residual_is_a_distribution_within_p_support(p, q, token, one_hot_q):
    residual = residual_distribution(p, None if one_hot_q else q.to(p.dtype), token)
    assert not torch.isnan(residual).any(), f"residual has NaN: {residual}"
    assert (residual >= 0).all(), f"residual has negative entries: {residual}"
    assert abs(float(residual.sum()) - 1.0) < 1e-5, f"residual sums to {float(residual.sum())}"
    assert (residual[p == 0] == 0).all(), f"residual puts mass where p = 0: p={p}, residual={residual}"


@settings(max_examples=200, deadline=None)
@given(
    p=st.lists(distributions(), min_size=3, max_size=3),
    q=st.lists(distributions(), min_size=2, max_size=2),
    seed=st.integers(0, 2**31 - 1),
)
def test_verify_emits_only_tokens_with_positive_p(p, q, seed):
    p_rows = torch.stack([row.double() for row in p])  # [K+1, V]
    q_rows = torch.stack([row.double() for row in q])  # [K, V]
    generator = torch.Generator().manual_seed(seed)
    drafted = [sample(row, generator) for row in q_rows]
    accepted, token = verify(drafted, p_rows, q_rows, generator)
    assert 0 <= accepted <= len(drafted), f"accepted {accepted} of {len(drafted)}"
    for i in range(accepted):
        assert p_rows[i, drafted[i]] > 0, f"accepted drafted token {drafted[i]} with p = 0 at position {i}"
    assert 0 <= token < VOCAB, f"token id {token} outside the vocabulary"
    assert p_rows[accepted, token] > 0, f"emitted token {token} with p = 0 at position {accepted}"


@settings(max_examples=200, deadline=None)
@given(
    logits=st.lists(st.floats(-30, 30), min_size=VOCAB, max_size=VOCAB),
    temperature=st.sampled_from([0.0, 0.3, 1.0, 2.5]),
    top_k=st.sampled_from([None, 1, 3]),
    top_p=st.sampled_from([1.0, 0.9, 0.3]),
)
def test_processed_distribution_valid(logits, temperature, top_k, top_p):
    probs = probabilities(torch.tensor(logits), SamplingSettings(temperature, top_k, top_p))
    assert not torch.isnan(probs).any(), f"NaN in {probs}"
    assert abs(float(probs.sum()) - 1.0) < 1e-5, f"sums to {float(probs.sum())}"
    assert (probs > 0).sum() >= 1, "no token survives the filters"
