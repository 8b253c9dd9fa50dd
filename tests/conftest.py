"""Shared fixtures: toy models built per test, real models loaded once per session (marked slow)."""

import math

import pytest
import torch

from specdec_mini.toy import TableLM


def constant_model(probs: list[float], name: str) -> TableLM:
    """An order-1 table model whose next-token distribution is `probs` after every context."""
    logits = torch.tensor([math.log(x) if x > 0 else float("-inf") for x in probs], dtype=torch.float64)
    table = logits.repeat(len(probs) + 1, 1)  # one identical row per previous token, plus the start row
    return TableLM(table, order=1, name=name)


@pytest.fixture
def toy_pair():
    """A target over 4 tokens whose next token depends on the last two, and a noisy draft of it."""
    target = TableLM.random(4, order=2, seed=0, scale=1.5, name="toy target")
    return target, target.perturbed(1.0, seed=1)


@pytest.fixture(scope="session")
def smollm():
    from specdec_mini.models import CausalLM

    return CausalLM.load("smollm2-135m", progress=False)


@pytest.fixture(scope="session")
def qwen_pair():
    from specdec_mini.models import CausalLM

    return CausalLM.load("qwen2.5-coder-1.5b", progress=False), CausalLM.load("qwen2.5-coder-0.5b", progress=False)
