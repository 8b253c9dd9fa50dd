"""The formulas of specdec_mini.theory against hand-computed values and against simulation."""

import pytest
import torch

from specdec_mini import theory


def test_alpha_is_one_minus_total_variation():
    p, q = torch.tensor([0.6, 0.4]), torch.tensor([0.8, 0.2])
    assert theory.alpha(p, q).item() == pytest.approx(0.8), "sum(min(p, q)) of the two-token example"


@pytest.mark.parametrize("alpha, k, expected", [(0.8, 4, 3.3616), (1.0, 4, 5.0), (0.0, 4, 1.0), (0.5, 1, 1.5)])
def test_expected_tokens_per_round(alpha, k, expected):
    assert theory.expected_tokens_per_round(alpha, k) == pytest.approx(expected, abs=1e-4)


def test_speedup_with_free_verification_matches_paper():
    # Leviathan et al.: (1 - a^(k+1)) / ((1 - a)(k c + 1)).
    a, k, c = 0.8, 4, 0.1
    assert theory.expected_speedup(a, k, c) == pytest.approx((1 - a**5) / ((1 - a) * (k * c + 1)))


def test_costly_verification_lowers_best_k():
    cheap_k, cheap_speed = theory.best_k(0.8, 0.1)
    costly = [1.0 + 0.38 * (n - 1) for n in range(1, 18)]  # v(5) = 2.5, as on a 2-core CPU
    costly_k, costly_speed = theory.best_k(0.8, 0.45, costly)
    assert costly_k < cheap_k, f"best k {costly_k} with costly verification should be below {cheap_k}"
    assert costly_speed < cheap_speed


def test_no_k_pays_returns_zero():
    k, speed = theory.best_k(0.3, 0.5, lambda n: 1.0 + 0.4 * (n - 1))
    assert k == 0 and speed == 1.0, f"expected k = 0 (plain decoding), got k = {k} at {speed:.2f}x"


def test_invalid_alpha():
    with pytest.raises(ValueError, match="alpha"):
        theory.expected_tokens_per_round(1.5, 4)
