"""The Check the distribution tab: speculative sampling against the exact target law, on a toy pair.

The target is a `TableLM` over 4 tokens whose next-token table depends on the last two, so all 4^3 outputs
of 3 tokens can be listed and their exact probabilities computed (`specdec_mini.equivalence.target_law`).
The draft is the same table plus noise. Both decoders sample the 3 tokens thousands of times, and
`compare_to_law` tests the counts with a chi-square test and the total variation distance. A correct
verifier passes; the classic broken rules (`BROKEN_VERIFIERS`, `ArgmaxDrafter`) fail the same test.

Left out: real models, whose output space is far too large to list.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterator

import torch

from demo import render
from demo.text import t
from specdec_mini.drafters import DraftModelDrafter
from specdec_mini.equivalence import BROKEN_VERIFIERS, ArgmaxDrafter, compare_to_law, sample_outputs, target_law
from specdec_mini.sampling import SamplingSettings, verify
from specdec_mini.toy import TableLM

TOY_VOCAB, TOY_ORDER, TOY_TOKENS, TOY_PROMPT, TOY_SEED = 4, 2, 3, [0], 0
TOY_DEFAULTS = {"k": 3, "temperature": 1.0, "draft_noise": 1.0, "trials": 2000, "seed": 0}
CORRECT_RULE, ARGMAX_RULE = "correct", "argmax draft"  # the rule choices besides the names of BROKEN_VERIFIERS


def rule_choices() -> list[tuple[str, str]]:
    """List the acceptance rules as (label, value) pairs for a dropdown, the correct one first."""
    return [(t("rule_correct"), CORRECT_RULE)] + [(name, name) for name in BROKEN_VERIFIERS] + [
        (t("rule_argmax"), ARGMAX_RULE)]


def check(rule: str, k: int, temperature: float, draft_noise: float, trials: int, seed: int) -> Iterator[dict]:
    """Sample both decoders in chunks and yield the histogram and test results after each chunk."""
    settings = SamplingSettings(temperature=temperature)
    target = TableLM.random(TOY_VOCAB, order=TOY_ORDER, seed=TOY_SEED, scale=1.5, name="toy target")
    draft = target.perturbed(draft_noise, seed=TOY_SEED + 1)
    drafter = ArgmaxDrafter(draft) if rule == ARGMAX_RULE else DraftModelDrafter(draft)
    verifier = BROKEN_VERIFIERS.get(rule, verify)
    law = target_law(target, TOY_PROMPT, TOY_TOKENS, settings)
    outcomes = sorted(law, key=lambda sequence: -law[sequence])
    plain, spec = Counter(), Counter()
    chunk = max(250, math.ceil(trials / 8))

    # subtle: these tensors are tiny, so torch's thread pool costs far more than it saves. With 2 threads
    # on a busy 2-core machine the check ran about 10x slower. The setting is process-wide, which is safe
    # only because the app queues this event with the model runs, one at a time.
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        for start in range(0, trials, chunk):
            size = min(chunk, trials - start)
            plain += sample_outputs(target, TOY_PROMPT, TOY_TOKENS, size, settings=settings, seed=seed + start)
            spec += sample_outputs(target, TOY_PROMPT, TOY_TOKENS, size, drafter=drafter, k=k, settings=settings,
                                   seed=seed + start, verifier=verifier)
            yield view(outcomes, law, plain, spec, rule)
    finally:
        torch.set_num_threads(threads)


def view(outcomes: list[tuple[int, ...]], law: dict, plain: Counter, spec: Counter, rule: str) -> dict:
    """Build the tab's chart and its two result lines from the counts so far."""
    labels = [" ".join(str(token) for token in sequence) for sequence in outcomes]
    series, lines = [], []
    for name, counts, colour in ((t("stat_plain"), plain, render.PLAIN_COLOUR),
                                 (f'{t("stat_spec")} ({rule})', spec, render.SPEC_COLOUR)):
        total = sum(counts.values())
        series.append((name, [counts[sequence] / total for sequence in outcomes], colour))
        result = compare_to_law(counts, law)
        verdict = t("consistent") if result.consistent else t("rejected")
        lines.append(t("check_row", name=name, samples=total, p_value=result.p_value, tv=result.tv,
                       tv_noise=result.tv_noise, verdict=verdict))
    return {"check_plot": render.distribution_figure(labels, [law[s] for s in outcomes], series),
            "check_text": "\n".join(f"- {line}" for line in lines)}
