"""The domain prompt suite: six kinds of request on which drafting works very differently.

Code completion, code editing and JSON boilerplate repeat the prompt or follow rigid syntax, so a small draft
(or a plain n-gram lookup) guesses most tokens. Math sits between. Summaries copy phrases from the source.
Creative prose has many good next tokens, so the draft and the target disagree often and speculation gains
little or loses. Every benchmark, lesson and demo tab uses these same prompts, so their numbers compare.

Left out: long-context prompts (on 2 CPU cores a 2,000-token prefill alone takes tens of seconds).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class DomainPrompt:
    """One prompt of the suite."""

    domain: str  # machine name, e.g. "code-editing"
    title: str  # human name for tables and the demo
    prompt: str  # the user message (the chat template is applied on top)
    why: str  # one sentence on why drafting is easy or hard here


_FUNCTION = '''def mean(values):
    total = 0
    for value in values:
        total = total + value
    return total / len(values)


def variance(values):
    m = mean(values)
    total = 0
    for value in values:
        total = total + (value - m) ** 2
    return total / len(values)'''

_ARTICLE = (
    "The city council voted on Tuesday to extend the riverside bike path by four kilometres, connecting the "
    "old harbour with the new university campus. Construction starts in March and should take eighteen months. "
    "The project costs 12 million euros, two thirds of which come from a regional climate fund. Local shop "
    "owners worried about losing parking spaces, so the plan keeps the existing car park and adds 300 bicycle "
    "stands near the market square. Supporters expect the path to cut short car trips between the two districts "
    "by a quarter."
)

SUITE: tuple[DomainPrompt, ...] = (
    DomainPrompt(
        "code-completion",
        "Code completion",
        "Complete this Python function. Reply with code only.\n\n"
        "def is_prime(n: int) -> bool:\n    \"\"\"Return True if n is a prime number.\"\"\"\n",
        "Code follows rigid syntax and idiom, so the draft predicts most tokens the target would choose.",
    ),
    DomainPrompt(
        "code-editing",
        "Code editing",
        "Rename the function `mean` to `average` everywhere in this code and add type hints. "
        "Reply with the full code only.\n\n" + _FUNCTION,
        "An edit copies most of the prompt, so both a draft model and prompt lookup guess long runs.",
    ),
    DomainPrompt(
        "json",
        "JSON / boilerplate",
        "Write a JSON array with 4 objects describing fruits. Each object has the keys \"name\", \"color\", "
        "\"price_eur\" and \"in_stock\". Reply with JSON only.",
        "Keys, quotes and brackets repeat in every object, so drafting is almost always right.",
    ),
    DomainPrompt(
        "math",
        "Math",
        "A train travels 180 km in 2 hours and then 240 km in 3 hours. What is its average speed for the "
        "whole trip? Show the steps.",
        "Numbers and steps are predictable once set up, but the draft stumbles on the arithmetic itself.",
    ),
    DomainPrompt(
        "summarisation",
        "Summarisation",
        "Summarise this news article in two sentences.\n\n" + _ARTICLE,
        "A summary reuses phrases of the source, which helps the draft, but the choice of phrases varies.",
    ),
    DomainPrompt(
        "creative-prose",
        "Creative prose",
        "Write the opening paragraph of a short story about a lighthouse keeper who finds a strange map.",
        "Open prose has many good continuations, so the draft and the target often pick different words.",
    ),
)

BY_NAME = {prompt.domain: prompt for prompt in SUITE}


def get(domain: str) -> DomainPrompt:
    """The suite's prompt for a domain name; ValueError names the valid ones."""
    try:
        return BY_NAME[domain]
    except KeyError:
        raise ValueError(f"unknown domain {domain!r}; choose one of: {', '.join(BY_NAME)}") from None
