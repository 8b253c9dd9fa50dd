"""specdec-mini: speculative decoding from scratch, on real pretrained models.

Notation, everywhere in this package: p is the target model's distribution, q the draft's, k the number of
tokens drafted per round, and alpha the acceptance rate. Reading order: sampling -> models -> drafters ->
decoding -> stats -> theory -> equivalence.
"""

from specdec_mini.decoding import (
    GenerationConfig,
    autoregressive_generate,
    autoregressive_rounds,
    speculative_generate,
    speculative_rounds,
)
from specdec_mini.drafters import DraftModelDrafter, Drafter, PromptLookupDrafter
from specdec_mini.models import CausalLM, DraftSizeWarning, check_compatible
from specdec_mini.sampling import SamplingSettings, probabilities, residual_distribution, verify
from specdec_mini.stats import GenerationResult, Round, speedup
from specdec_mini.toy import TableLM, tiny_transformer

__all__ = [
    "CausalLM",
    "DraftModelDrafter",
    "Drafter",
    "GenerationConfig",
    "GenerationResult",
    "PromptLookupDrafter",
    "Round",
    "SamplingSettings",
    "TableLM",
    "autoregressive_generate",
    "autoregressive_rounds",
    "check_compatible",
    "DraftSizeWarning",
    "probabilities",
    "residual_distribution",
    "speculative_generate",
    "speculative_rounds",
    "speedup",
    "tiny_transformer",
    "verify",
]
