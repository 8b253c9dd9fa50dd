"""One measured generation per call, for every method the benchmark compares, on the same model objects.

    plain         autoregressive_generate: the baseline every speed-up is measured against
    sd-draft      specdec_mini with the draft model (DraftModelDrafter)
    sd-draft-conf the same, but a round's draft stops once q(token) < 0.5 (min_confidence)
    sd-lookup     specdec_mini with prompt lookup (PromptLookupDrafter)
    hf-assisted   transformers generate(assistant_model=...) with a constant draft length k
    hf-assisted-conf  the same with transformers' own defaults: 20 tokens, stopping at confidence 0.4
    hf-lookup     transformers generate(prompt_lookup_num_tokens=k)
    hf-assisted-stock  hf-assisted with stock PyTorch matmuls instead of the oneDNN multi-row path
    sd-draft-int8 sd-draft with the draft's weights in int8 (kernels.quantize_int8): cheaper drafts
    hf-assisted-int8  hf-assisted given that same int8 draft, so the comparison stays like for like

A k of "auto" gives the sd-* methods an `AdaptiveK` per run. Each call starts from fresh caches and a fresh
drafter, and returns one flat, JSON-ready record: speed, acceptance, the time split and peak memory.

transformers does not report acceptance, so forward hooks on its two models record every forward's input
length and cache length, and the acceptance rate is rebuilt from how far the cache advanced per round.

Left out: energy, and batch sizes above 1.
"""

from __future__ import annotations

import contextlib
import os
import time
from dataclasses import dataclass

import torch

from specdec_mini.autok import AdaptiveK, CostCurve, predicted_speedup
from specdec_mini.decoding import GenerationConfig, autoregressive_generate, speculative_generate
from specdec_mini.drafters import DraftModelDrafter, PromptLookupDrafter
from specdec_mini.kernels import use_onednn_linear

CONFIDENCE = 0.5  # sd-draft-conf: stop a round's draft once the draft's q(token) falls below this
HF_DEFAULT_TOKENS, HF_DEFAULT_CONFIDENCE = 20, 0.4  # transformers 5.25 assistant defaults (configuration_utils.py)


@dataclass(frozen=True)
class Method:
    """One way of generating, as the benchmark names it."""

    name: str  # e.g. "sd-draft"
    runner: str  # "plain", "specdec" or "hf"
    drafter: str | None  # "model", "lookup" or None (plain decoding)
    takes_k: bool = True  # False: k means nothing (plain) or the method fixes its own (hf-assisted-conf)
    auto_k: bool = False  # True: the method accepts k = "auto"
    stock_kernels: bool = False  # True: run with stock PyTorch matmuls, as transformers users get them
    draft_weights: str = "float32"  # "int8": the draft model with int8 weights (kernels.quantize_int8)

    @property
    def costs_key(self) -> str | None:
        """The key of the `CostCurve` in `Models.costs` that describes this method's drafter."""
        return draft_costs_key(self.draft_weights) if self.drafter == "model" else self.drafter


def draft_costs_key(weights: str) -> str:
    """Name the cost curve of a draft model with these weights: "model" (float32) or "model-int8"."""
    return "model" if weights == "float32" else f"model-{weights}"


METHODS = {m.name: m for m in [
    Method("plain", "plain", None, takes_k=False),
    Method("sd-draft", "specdec", "model", auto_k=True),
    Method("sd-draft-conf", "specdec", "model"),
    Method("sd-lookup", "specdec", "lookup", auto_k=True),
    Method("hf-assisted", "hf", "model"),
    Method("hf-assisted-conf", "hf", "model", takes_k=False),
    Method("hf-lookup", "hf", "lookup"),
    Method("hf-assisted-stock", "hf", "model", stock_kernels=True),
    Method("sd-draft-int8", "specdec", "model", auto_k=True, draft_weights="int8"),
    Method("hf-assisted-int8", "hf", "model", draft_weights="int8"),
]}


@dataclass
class Models:
    """The loaded models plus what was measured about them at load."""

    target: object  # CausalLM
    draft: object | None  # CausalLM, or None when no method needs a draft model
    costs: dict  # Method.costs_key ("model", "model-int8", "lookup") -> CostCurve
    draft_int8: object | None = None  # the same draft with int8 weights, for the *-int8 methods

    def draft_for(self, method: Method):
        """Return the draft model object that `method` runs with."""
        return self.draft_int8 if method.draft_weights == "int8" else self.draft


# --- peak memory: Linux's VmHWM, reset before each run -----------------------------------------------------

def _status_mb(field: str) -> float | None:
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith(field + ":"):
                    return int(line.split()[1]) / 1024  # kB -> MB
    except OSError:
        return None
    return None


def reset_peak_rss() -> bool:
    """Reset the process's RSS high-water mark (VmHWM) to the current RSS; False where Linux does not allow it."""
    try:
        with open(f"/proc/{os.getpid()}/clear_refs", "w") as refs:
            refs.write("5")
        return True
    except OSError:
        return False


# --- the runners ------------------------------------------------------------------------------------------

def run(method: Method, k: int | str | None, models: Models, prompt_ids: list[int], temperature: float,
        max_new_tokens: int, seed: int) -> dict:
    """Generate once with `method` and return the run's record (tokens included, for equality checks)."""
    peak_resets = reset_peak_rss()
    rss_before = _status_mb("VmRSS")
    load_before = os.getloadavg()[0]
    if method.stock_kernels:
        stock_kernels(models, True)
        try:
            record = _run_hf(method, k, models, prompt_ids, temperature, max_new_tokens, seed)
        finally:
            stock_kernels(models, False)
    elif method.runner == "hf":
        record = _run_hf(method, k, models, prompt_ids, temperature, max_new_tokens, seed)
    else:
        record = _run_specdec(method, k, models, prompt_ids, temperature, max_new_tokens, seed)
    peak = _status_mb("VmHWM")
    record.update(
        method=method.name, k=k, temperature=temperature, seed=seed,
        decode_tokens_per_second=_rate(len(record["tokens"]), record["seconds"] - record["prefill_seconds"]),
        peak_rss_mb=peak, peak_rss_above_start_mb=(peak - rss_before) if peak_resets and peak else None,
        load_average=[load_before, os.getloadavg()[0]],
    )
    return record


def _rate(tokens: int, seconds: float) -> float:
    return tokens / seconds if seconds > 0 else 0.0


def _run_specdec(method, k, models, prompt_ids, temperature, max_new_tokens, seed) -> dict:
    auto = k == "auto"
    config = GenerationConfig(max_new_tokens=max_new_tokens, k=16 if auto else (k or 1),
                              temperature=temperature, seed=seed)
    if method.runner == "plain":
        result = autoregressive_generate(models.target, prompt_ids, config)
        return {**result.summary(), "tokens": result.tokens, "text": result.text}

    costs: CostCurve = models.costs[method.costs_key]
    if method.drafter == "model":
        min_confidence = CONFIDENCE if method.name == "sd-draft-conf" else 0.0
        drafter = DraftModelDrafter(models.draft_for(method), min_confidence=min_confidence)
    else:
        drafter = PromptLookupDrafter()
    draft_length = AdaptiveK(costs, k_max=config.k) if auto else None
    result = speculative_generate(models.target, drafter, prompt_ids, config, draft_length=draft_length)
    return {
        **result.summary(), "tokens": result.tokens, "text": result.text,
        "predicted_decode_speedup": predicted_speedup(result, costs),
        "chosen_k": draft_length.chosen if draft_length else None,
        "drafted_per_round": [len(r.drafted) for r in result.rounds],
    }


class _ForwardLog:
    """Forward hooks that time every forward of a model and note its input length and cache length."""

    def __init__(self, model) -> None:
        self.calls: list[tuple[int, int, float]] = []  # (cache length before, input tokens, seconds)
        self._start = 0.0
        self._handles = [model.register_forward_pre_hook(self._before, with_kwargs=True),
                         model.register_forward_hook(self._after)]

    def _before(self, module, args, kwargs) -> None:
        ids = kwargs.get("input_ids", args[0] if args else None)
        cache = kwargs.get("cache")
        self._pending = (cache.get_seq_length() if cache is not None else 0, int(ids.shape[-1]))
        self._start = time.perf_counter()

    def _after(self, module, args, output) -> None:
        self.calls.append((*self._pending, time.perf_counter() - self._start))

    def remove(self) -> None:
        for handle in self._handles:
            handle.remove()


def _hf_acceptance(calls: list[tuple[int, int, float]], prompt_len: int, new_tokens: int) -> tuple[int, int]:
    """Rebuild (accepted, checked) drafted tokens from the target's forwards: [(cache, inputs, s)] -> counts.

    transformers feeds each round the committed tokens its cache lacks plus K drafted ones, and crops the
    cache back to the committed tokens minus the last. So with C_r tokens committed before round r (the
    prompt before the first), round r drafted K_r = cache_r + inputs_r - C_r tokens and kept
    C_(r+1) - C_r - 1 of them, where C_(r+1) = cache_(r+1) + 1, and the output's length closes the last round.
    """
    committed = [prompt_len] + [cache + 1 for cache, _, _ in calls[1:]] + [prompt_len + new_tokens]
    accepted = checked = 0
    for r, (cache, inputs, _) in enumerate(calls):
        drafted = cache + inputs - committed[r]
        kept = max(0, min(drafted, committed[r + 1] - committed[r] - 1))
        accepted += kept
        checked += kept + int(kept < drafted)
    return accepted, checked


@contextlib.contextmanager
def _assistant_settings(model, **settings):
    # transformers reads the draft length and confidence threshold from the assistant's own generation config.
    config = model.generation_config
    saved = {key: getattr(config, key, None) for key in settings}
    for key, value in settings.items():
        setattr(config, key, value)
    try:
        yield
    finally:
        for key, value in saved.items():
            setattr(config, key, value)


def _run_hf(method, k, models, prompt_ids, temperature, max_new_tokens, seed) -> dict:
    from transformers import GenerationConfig as HFConfig
    from transformers.utils import logging as hf_logging

    target = models.target
    eos = sorted(target.eos_token_ids)
    # Sampling settings equal to specdec_mini's: no top-k (0 turns transformers' default of 50 off), no top-p.
    sampling = {"do_sample": True, "temperature": temperature, "top_k": 0, "top_p": 1.0} if temperature > 0 else {}
    hf_config = HFConfig(max_new_tokens=max_new_tokens, repetition_penalty=1.0, eos_token_id=eos,
                         pad_token_id=eos[0], **sampling)
    extra, assistant = {}, contextlib.nullcontext()
    if method.drafter == "lookup":
        hf_config.prompt_lookup_num_tokens = k
        hf_config.max_matching_ngram_size = 3  # as PromptLookupDrafter's default, so both look for the same n-grams
    else:
        extra["assistant_model"] = models.draft_for(method).model
        tokens, threshold = (k, 0.0) if method.takes_k else (HF_DEFAULT_TOKENS, HF_DEFAULT_CONFIDENCE)
        assistant = _assistant_settings(extra["assistant_model"], num_assistant_tokens=tokens,
                                        num_assistant_tokens_schedule="constant",
                                        assistant_confidence_threshold=threshold)
    input_ids = torch.tensor([prompt_ids])  # [T] -> [1, T]
    target_log = _ForwardLog(target.model)
    draft_log = _ForwardLog(extra["assistant_model"]) if "assistant_model" in extra else None
    verbosity = hf_logging.get_verbosity()
    hf_logging.set_verbosity_error()  # the library prints nothing; transformers' advice would land on stderr
    try:
        with assistant, torch.inference_mode():
            torch.manual_seed(seed)
            start = time.perf_counter()
            output = target.model.generate(input_ids, attention_mask=torch.ones_like(input_ids),
                                           generation_config=hf_config, **extra)
            seconds = time.perf_counter() - start
    finally:
        hf_logging.set_verbosity(verbosity)
        target_log.remove()
        if draft_log is not None:
            draft_log.remove()

    tokens = output[0, len(prompt_ids):].tolist()
    draft_calls = draft_log.calls if draft_log else []
    accepted, checked = _hf_acceptance(target_log.calls, len(prompt_ids), len(tokens))
    # transformers' first target forward scores the prompt and the first draft together: call it prefill.
    target_seconds = sum(s for _, _, s in target_log.calls[1:])
    draft_seconds = sum(s for _, _, s in draft_calls[1:])
    prefill = target_log.calls[0][2] + (draft_calls[0][2] if draft_calls else 0.0)
    forwards = len(target_log.calls)
    return {
        "method": method.name, "k": k, "new_tokens": len(tokens), "seconds": seconds,
        "tokens_per_second": _rate(len(tokens), seconds),
        "acceptance_rate": accepted / checked if checked else None,
        "tokens_per_target_forward": len(tokens) / forwards if forwards else 0.0,
        "target_forwards": forwards, "draft_forwards": max(0, len(draft_calls) - 1),
        "prefill_seconds": prefill, "target_seconds": target_seconds, "draft_seconds": draft_seconds,
        "other_seconds": max(0.0, seconds - prefill - target_seconds - draft_seconds),
        "stop": None, "tokens": tokens, "text": target.decode(tokens), "predicted_decode_speedup": None,
        "chosen_k": None,
    }


def stock_kernels(models: Models, enabled: bool) -> None:
    """Switch both models between stock PyTorch matmuls (True) and the oneDNN multi-row path (False)."""
    for lm in (models.target, models.draft):
        if lm is not None:
            use_onednn_linear(lm.model, not enabled)
