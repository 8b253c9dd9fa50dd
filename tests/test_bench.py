"""Tests of the benchmark harness, the adaptive draft length and the oneDNN linear path.

The statistics are checked on hand-made records; `bench --quick` runs end to end on SmolLM2-135M (as both
target and draft, so it stays about a minute) and only its output files are checked, never its timings.
"""

import json

import pytest
import torch

from specdec_mini import kernels
from specdec_mini.autok import AdaptiveK, CostCurve, predicted_speedup
from specdec_mini.bench import Cell, _replace_cells, build_cells, mark_identical, pairwise_speedups, summarize
from specdec_mini.bench_runs import _hf_acceptance
from specdec_mini.decoding import GenerationConfig, autoregressive_generate, speculative_generate
from specdec_mini.drafters import DraftModelDrafter
from specdec_mini.stats import GenerationResult, Round
from specdec_mini.toy import tiny_transformer


def record(method, rep, tps, prompt="p", temperature=0.0, k=4, tokens=(1, 2), invocation=0, warmup=False):
    return {"method": method, "rep": rep, "tokens_per_second": tps, "prompt": prompt, "temperature": temperature,
            "k": k, "tokens": list(tokens), "invocation": invocation, "warmup": warmup}


# --- statistics -------------------------------------------------------------------------------------------

def test_summarize_median_min_max():
    stats = summarize([3.0, 1.0, 2.0, None])
    assert stats == {"median": 2.0, "min": 1.0, "max": 3.0, "n": 3}, f"got {stats}"


def test_summarize_empty():
    assert summarize([None])["median"] is None, "an all-None list must summarise to None"


def test_speedups_pair_within_repetition():
    runs = [record("plain", 0, 2.0), record("sd", 0, 5.0), record("plain", 1, 4.0), record("sd", 1, 6.0)]
    ratios = pairwise_speedups(runs)[("p", 0.0, "sd", 4)]
    # Rep 0: 5/2, rep 1: 6/4. Ratio of medians would give 5.5/3 = 1.83 instead.
    assert ratios == [2.5, 1.5], f"pairwise ratios {ratios} != [2.5, 1.5]"


def test_speedups_skip_warmup_and_other_invocations():
    runs = [record("plain", 0, 2.0, warmup=True), record("sd", 0, 9.0, warmup=True),
            record("plain", 0, 3.0, invocation=1), record("sd", 0, 6.0, invocation=1), record("sd", 0, 8.0)]
    ratios = pairwise_speedups(runs)
    assert ratios[("p", 0.0, "sd", 4)] == [2.0], f"only invocation 1's pair may count, got {ratios}"


def test_identical_only_for_greedy():
    runs = [record("plain", 0, 1, tokens=(1, 2)), record("sd", 0, 1, tokens=(1, 2)), record("x", 0, 1, tokens=(1, 3)),
            record("plain", 0, 1, temperature=0.7), record("sd", 0, 1, temperature=0.7, tokens=(9,))]
    mark_identical(runs)
    assert [r["identical_to_plain"] for r in runs] == [True, True, False, None, None], runs


def test_build_cells_plain_first_and_auto_only_where_supported():
    cells = build_cells(["code-editing"], [0.0], ["hf-assisted", "sd-draft"], [4, "auto"])
    assert cells[0] == Cell("code-editing", 0.0, "plain", None), f"plain must come first, got {cells[0]}"
    assert Cell("code-editing", 0.0, "sd-draft", "auto") in cells, "sd-draft takes k=auto"
    assert Cell("code-editing", 0.0, "hf-assisted", "auto") not in cells, "hf-assisted has no k=auto"


def test_merge_keeps_old_plain_as_baseline():
    old = [record("plain", 0, 2.0), record("hf", 0, 3.0, k=4)]
    new = [record("plain", 0, 4.0, invocation=1), record("sd", 0, 8.0, invocation=1)]
    merged = _replace_cells(old, new)
    assert ("p", 0.0, "hf", 4) in pairwise_speedups(merged), "the older hf run lost its baseline"
    superseded = [r for r in merged if r.get("superseded")]
    assert len(superseded) == 1 and superseded[0]["tokens_per_second"] == 2.0, merged


# --- transformers' acceptance, rebuilt from forward calls -------------------------------------------------

def test_hf_acceptance_from_cache_lengths():
    # Prompt of 10. Forward 1: prompt + 4 drafts, 2 kept (3 committed -> 13). Forward 2: cache 12, 1 + 4 fed,
    # all 4 kept plus a bonus (5 committed -> 18). The output has 8 new tokens, so it ends there.
    calls = [(0, 14, 0.1), (12, 5, 0.1)]
    assert _hf_acceptance(calls, prompt_len=10, new_tokens=8) == (6, 7), "expected 6 accepted of 7 checked"


# --- the adaptive draft length ----------------------------------------------------------------------------

FLAT = CostCurve(target_step=1.0, draft_step=0.4, verify=tuple(1.0 + 0.05 * n for n in range(17)))


def drafted_round(k, accepted):
    return Round(drafted=[0] * k, accepted=accepted, rejected=int(accepted < k), tokens=[0] * (accepted + 1),
                 kinds=[])


def test_adaptive_k_stops_drafting_when_nothing_is_accepted():
    policy = AdaptiveK(FLAT, k_max=8)
    for _ in range(10):
        policy.observe(drafted_round(policy.choose() or 1, 0))
    assert policy.choose() == 0, f"alpha estimate {policy.alpha:.2f} should make k=0 the best choice"


def test_adaptive_k_probes_and_recovers():
    policy = AdaptiveK(FLAT, k_max=8)
    for _ in range(10):
        policy.observe(drafted_round(max(policy.choose(), 1), 0))
    chosen = []
    # Ten misses in a row leave about 8 tokens of evidence at alpha = 0; with a half-life of 12 rounds it takes
    # about 90 plain rounds to fade enough for a probe.
    for _ in range(150):
        k = policy.choose()
        chosen.append(k)
        policy.observe(drafted_round(k, k) if k else Round([], 0, 0, [0], ["target"]))
    assert 0 in chosen, f"expected plain rounds after ten misses, got {chosen}"
    assert chosen[-1] >= 2, f"expected longer drafts once probes succeed, got {chosen}"


def timed_round(k, accepted, slowness):
    """A round that took `slowness` times the seconds FLAT predicts for it."""
    round_ = drafted_round(k, accepted) if k else Round([], 0, 0, [0], ["target"])
    round_.target_seconds = slowness * FLAT.round_cost(k) * FLAT.target_step
    return round_


def test_adaptive_k_probes_plain_when_marginal():
    policy = AdaptiveK(FLAT, k_max=8)
    chosen = []
    for _ in range(6):  # 3 of 4 drafted tokens accepted, drafting rounds 40% slower than the curve predicts
        k = policy.choose()
        chosen.append(k)
        policy.observe(timed_round(k, min(k, 3), 1.4 if k else 1.0))
    assert chosen[0] > 0, f"the first round should draft, got {chosen}"
    assert 0 in chosen, f"slow drafting rounds should trigger a plain step, got {chosen}"


def test_adaptive_k_mostly_plain_on_slow_drafting():
    policy = AdaptiveK(FLAT, k_max=8)
    chosen = []
    for _ in range(20):  # 2 of k drafted tokens accepted, drafting rounds 50% slower than the curve predicts
        k = policy.choose()
        chosen.append(k)
        policy.observe(timed_round(k, min(k, 2), 1.5 if k else 1.0))
    assert chosen.count(0) >= 10, f"expected mostly plain steps (with probes in between), got {chosen}"


def test_adaptive_k_failed_probes_back_off():
    policy = AdaptiveK(FLAT, k_max=8)
    chosen = []
    for _ in range(80):  # the draft never guesses right
        k = policy.choose()
        chosen.append(k)
        policy.observe(timed_round(k, 0, 1.0))
    drafting = [i for i, k in enumerate(chosen) if k > 0]
    gaps = [b - a for a, b in zip(drafting, drafting[1:])]
    assert len(drafting) <= 8, f"a draft that always misses was tried in {len(drafting)} of 80 rounds: {chosen}"
    assert gaps[-1] > gaps[0], f"the waits between probes should grow, got gaps {gaps}"


def test_adaptive_k_keeps_drafting_when_it_pays():
    policy = AdaptiveK(FLAT, k_max=8)
    chosen = []
    for _ in range(12):
        k = policy.choose()
        chosen.append(k)
        policy.observe(timed_round(k, k, 1.0))
    assert min(chosen) > 0, f"every round should draft when all drafts are accepted, got {chosen}"


def test_predicted_speedup_matches_formula():
    rounds = [drafted_round(4, 4)] * 3 + [drafted_round(4, 1)]
    result = GenerationResult("sd", [0], rounds=rounds)
    alpha = 13 / 14  # 13 accepted of 14 checked
    expected = (1 - alpha ** 5) / (1 - alpha) / (4 * 0.4 + 1.2)  # v(5) = verify[4] / verify[0]
    assert predicted_speedup(result, FLAT) == pytest.approx(expected), "prediction must follow the formula"


@pytest.mark.parametrize("temperature", [0.0, 1.0])
def test_adaptive_k_keeps_output(temperature):
    target, draft = tiny_transformer(32, seed=0), tiny_transformer(32, seed=1)
    config = GenerationConfig(max_new_tokens=24, k=8, temperature=temperature, seed=3)
    policy = AdaptiveK(FLAT, k_max=8)
    adaptive = speculative_generate(target, DraftModelDrafter(draft), [1, 2, 3], config, draft_length=policy)
    assert len(policy.chosen) == len(adaptive.rounds), "one choice per round"
    if temperature == 0:
        plain = autoregressive_generate(target, [1, 2, 3], config)
        assert adaptive.tokens == plain.tokens, f"greedy: {adaptive.tokens} != plain {plain.tokens}"


# --- the oneDNN linear path --------------------------------------------------------------------------------

@pytest.mark.skipif(not kernels.onednn_available(), reason="this PyTorch build has no oneDNN")
def test_onednn_linear_all_row_counts(monkeypatch):
    # Plain decoding (one row) and verification (many rows) must use the same kernel. A speed-up measured
    # with a slower kernel on the plain side is not a speed-up of speculative decoding.
    calls = []
    real = torch.ops.mkldnn._linear_pointwise

    def counting(x, *args):
        calls.append(x.numel() // x.shape[-1])
        return real(x, *args)

    layer = torch.nn.Linear(64, 48)
    x = torch.randn(5, 64)
    with torch.inference_mode():
        stock_one, stock_many = layer(x[:1]), layer(x)
        assert kernels.use_onednn_linear(layer) == 1, "one layer should be switched"
        monkeypatch.setattr(torch.ops.mkldnn, "_linear_pointwise", counting)
        fast_one, fast_many = layer(x[:1]), layer(x)
        kernels.use_onednn_linear(layer, False)
    assert calls == [1, 5], f"rows sent to oneDNN: {calls}, expected one call with 1 row and one with 5"
    for fast, stock in ((fast_one, stock_one), (fast_many, stock_many)):
        assert torch.allclose(fast, stock, atol=1e-5), f"max diff {(fast - stock).abs().max()}"
    assert not kernels.uses_onednn_linear(layer), "switching off must restore nn.Linear.forward"


def test_onednn_linear_keeps_autograd():
    layer = torch.nn.Linear(8, 4)
    kernels.use_onednn_linear(layer)
    loss = layer(torch.randn(3, 8, requires_grad=True)).sum()
    loss.backward()
    assert layer.weight.grad is not None, "training must fall back to the stock path, which has a backward"


# --- the command end to end ---------------------------------------------------------------------------------

@pytest.mark.slow
def test_bench_quick_writes_reports(tmp_path):
    from specdec_mini.bench import main

    argv = ["--quick", "--target", "smollm2-135m", "--draft", "smollm2-135m", "--out", str(tmp_path),
            "--cost-tokens", "8", "--no-progress"]
    assert main(argv) == 0, "bench --quick must exit with 0"

    data = json.loads((tmp_path / "results.json").read_text())
    measured = [r for r in data["runs"] if not r["warmup"]]
    assert {r["method"] for r in measured} == {"plain", "sd-draft"}, data["runs"][0]
    assert len(measured) == 2 * 2 * 2, f"2 prompts x 2 methods x 2 reps, got {len(measured)} runs"
    assert all(r["identical_to_plain"] for r in measured), "greedy outputs must equal plain decoding"
    report = (tmp_path / "results.md").read_text()
    assert "| code-editing | sd-draft | 4 |" in report, report
    html = (tmp_path / "speedups.html").read_text()
    # plotly 6 starts the page with "<html>", plotly 7 with "<!doctype html>"
    head = html.lstrip()[:64].lower()
    assert head.startswith(("<html", "<!doctype html")), html[:200]
    assert "plotly" in html, html[:200]
