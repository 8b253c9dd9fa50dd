"""Faster CPU matrix products for every forward pass, plain decoding and verification alike, in float32.

Speculative decoding assumes that scoring k+1 tokens in one target forward costs about as much as scoring one.
On a CPU that holds only if a matrix product with 2-16 input rows is about as cheap as one with a single row.
Both are limited by reading the weights from memory, so in principle they should be. In practice, with the
MKL build of PyTorch 2.13 on a 2-core AMD EPYC (Zen 4), `torch.nn.functional.linear` takes a matrix-vector
path for one row and a general matrix product (GEMM) for 2 or more rows, and that GEMM was 2-4x slower than
the one-row path at the Qwen2.5 shapes, which left little of speculation's gain.

oneDNN, which PyTorch also ships, has a GEMM kernel that is fast for a few rows, and on the same machine it
is also about twice as fast as the stock path for a single row (1536 x 151936 output layer: 32 ms against
66 ms). `use_onednn_linear(model)` therefore routes every float32 `nn.Linear` of a model through it, for any
number of rows:

    stock     torch.nn.functional.linear
    oneDNN    torch.ops.mkldnn._linear_pointwise on the same dense weight (no copy, no extra memory)

One row must take the same kernel as many rows. An earlier version sent only multi-row inputs to oneDNN. Plain
decoding then ran on the slower stock kernel and verification on the faster one, so the measured speed-up of
speculative decoding on code editing came out as 1.7x where the fair figure is 1.25x. A speed-up
is only honest when both sides use the best kernels available.

Both kernels compute in float32 but add up the products in a different order, and oneDNN's order also
depends on the number of rows, so logits differ by about 1e-4 (float32 rounding) between a one-token and a
many-token pass. Greedy outputs of plain and speculative decoding stay equal unless two tokens tie within
that rounding. The benchmark harness checks that equality on every greedy run.

A draft model may go further: `quantize_int8` stores its weights as int8, a quarter of the bytes. That
changes the draft's guesses, not the output, which the target alone decides.

Left out: prepacking the weights into oneDNN's blocked layout. It was faster again at 5-16 rows, but it
needs a second copy of every weight (6 GB more for the 1.5B target). Also left out: bfloat16 weights (no
faster than float32 for one row here) and int8 for the target, which would change the output.
"""

from __future__ import annotations

import types
import warnings

import torch
import torch.nn.functional as F
from torch import nn


def onednn_available() -> bool:
    """True if this PyTorch build has the oneDNN linear operator."""
    return torch.backends.mkldnn.is_available() and hasattr(torch.ops.mkldnn, "_linear_pointwise")


def _linear_forward(self: nn.Linear, x: torch.Tensor) -> torch.Tensor:
    """Compute nn.Linear.forward through oneDNN for any number of rows: [..., in] -> [..., out]."""
    # oneDNN's operator has no backward, so it only serves inference; training and empty inputs stay stock.
    if x.numel() and x.dtype == torch.float32 and not (torch.is_grad_enabled() and x.requires_grad):
        return torch.ops.mkldnn._linear_pointwise(x, self.weight, self.bias, "none", [], "")
    return F.linear(x, self.weight, self.bias)


def use_onednn_linear(model: nn.Module, enabled: bool = True) -> int:
    """Route the model's float32 CPU `nn.Linear` layers through oneDNN (or undo it).

    Returns the number of layers changed. Without oneDNN in this PyTorch build, nothing changes and it returns 0.
    The change is made on the module instances in place, so anything else that runs this model object
    (transformers `generate`, say) gets the same kernels until `use_onednn_linear(model, False)`.
    """
    if enabled and not onednn_available():
        return 0
    changed = 0
    for module in model.modules():
        if not isinstance(module, nn.Linear):
            continue
        if module.weight.dtype != torch.float32 or module.weight.device.type != "cpu":
            continue
        # An instance attribute `forward` takes precedence over the class's method; deleting it restores that.
        if enabled:
            module.forward = types.MethodType(_linear_forward, module)
            changed += 1
        elif "forward" in module.__dict__:
            del module.forward
            changed += 1
    return changed


def uses_onednn_linear(model: nn.Module) -> bool:
    """True if any `nn.Linear` of the model currently takes the oneDNN path."""
    return any(isinstance(m, nn.Linear) and "forward" in m.__dict__ for m in model.modules())


# --- int8 weights, for draft models only -------------------------------------------------------------------

WEIGHT_FORMATS = ("float32", "int8")


def check_weights(weights: str) -> None:
    """Raise ValueError unless `weights` names a supported weight format."""
    if weights not in WEIGHT_FORMATS:
        raise ValueError(f"invalid weights {weights!r}: use one of {', '.join(WEIGHT_FORMATS)}")


def quantize_int8(model: nn.Module) -> int:
    """Replace the model's float32 `nn.Linear` layers by int8 ones in place; return how many were replaced.

    Each weight matrix is stored as int8 with one scale per output row. Each input is quantised to 8 bits on
    the fly, with one scale per call (PyTorch's dynamic quantisation). A decoding step reads a quarter of the
    bytes, which is what a step at batch size 1 is limited by: the Qwen2.5 0.5B draft step here takes 29 ms
    instead of 83 ms. The logits move by far more than float32 rounding, so this is for draft models only.
    Speculative decoding still returns exactly the target's output, because verification divides by the q
    the int8 draft really sampled from; a worse draft only lowers the acceptance rate.
    """
    engines = torch.backends.quantized.supported_engines
    if not any(engine in engines for engine in ("x86", "fbgemm", "onednn", "qnnpack")):
        raise ValueError(f"this PyTorch build has no quantised engine ({engines}); load the draft with "
                         "weights='float32' instead")
    use_onednn_linear(model, False)  # the replaced layers must not keep the float32 oneDNN route
    count = sum(1 for m in model.modules() if isinstance(m, nn.Linear) and m.weight.dtype == torch.float32)
    with warnings.catch_warnings():
        # torch 2.13 marks eager-mode quantisation as moving to the torchao package; it still works and
        # torchao is not installed here.
        warnings.simplefilter("ignore")
        from torch.ao.quantization import per_channel_dynamic_qconfig, quantize_dynamic

        quantize_dynamic(model, {nn.Linear: per_channel_dynamic_qconfig}, dtype=torch.qint8, inplace=True)
    return count
