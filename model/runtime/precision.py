"""Numeric precision of the network, for sampling and training alike: which autocast dtype its matmuls
and convolutions run in, the default per device, and what each device refuses.

Weights stay float32, and so do everything a sampler computes and, in training, the gradients, the
optimizer state and the EMA; only the network runs in the lower precision. GroupNorm and softmax statistics
stay float32 in every mode: CUDA autocast runs group_norm in float32, and the CPU kernels accumulate
bfloat16 statistics in float32. fp16 needs loss scaling in training (its range is too narrow for small
gradients), bf16 does not.
"""

from __future__ import annotations

import enum
from contextlib import AbstractContextManager, nullcontext

import torch


class Precision(enum.StrEnum):
    FP32 = "fp32"
    BF16 = "bf16"  # autocast; GroupNorm and softmax statistics stay in float32
    FP16 = "fp16"

    @property
    def autocast_dtype(self) -> torch.dtype | None:
        return {Precision.FP32: None, Precision.BF16: torch.bfloat16, Precision.FP16: torch.float16}[self]


def default_precision(device: torch.device) -> Precision:
    """bf16 on CUDA (tensor cores, no loss of range); fp32 on the CPU (see benchmarks/RESULTS.md)."""
    return Precision.BF16 if device.type == "cuda" else Precision.FP32


def _cpu_has(feature: str) -> bool:
    """torch's cpuinfo probe ``torch.cpu._is_<feature>_supported`` (False where this torch lacks it); read
    from torch rather than from OpenVINO, which is not imported to ask."""
    return bool(getattr(torch.cpu, f"_is_{feature}_supported", lambda: False)())


def amx_cpu() -> bool:
    """Whether this CPU has AMX tile units (Intel Xeon since Sapphire Rapids), which multiply bf16 matrices
    at 7x its fp32 rate (one core of a 2-core Xeon: 1,114 against 160 GFLOP/s; benchmarks/RESULTS.md)."""
    return _cpu_has("amx_tile")


def native_bf16_cpu() -> bool:
    """Whether this CPU multiplies bf16 in hardware (AVX512-BF16 or AMX). Elsewhere bf16 is emulated
    (OpenVINO's bf16 ran 3-4x slower than its fp32 on an AVX-512 CPU without them), so it is never a default
    there."""
    return _cpu_has("avx512_bf16") or amx_cpu()


def default_training_precision(device: torch.device) -> Precision:
    """The autocast precision a training run takes unless its config says: the device's default, except on
    CPUs with native bf16, which take bf16: a training step of the default network took 0.51x fp32's time on
    an Intel Xeon with AMX (1,052 against 2,056 ms, batch 16, one thread; benchmarks/training.py) and 0.65x
    on an AMD EPYC Zen 4 with AVX512-BF16 alone (1,413 against 2,180 ms), and 300 steps from the shipped
    weights reached the same validation loss (model/weights/README.md). Other CPUs keep fp32: bf16 is
    emulated there, slower than fp32."""
    return Precision.BF16 if device.type == "cpu" and native_bf16_cpu() else default_precision(device)


def check_precision(precision: Precision, device: torch.device) -> None:
    """fp16 is refused off CUDA: CPU autocast does not support it well, and bf16 is there without a loss
    scaler."""
    if precision is Precision.FP16 and device.type != "cuda":
        raise ValueError(f"fp16 needs a CUDA device, not {device}; use fp32 or bf16 on the CPU")


def resolve_training_precision(choice: Precision | None, device: torch.device) -> Precision:
    """``choice``, or the device's training default when None; checked against the device."""
    precision = default_training_precision(device) if choice is None else choice
    check_precision(precision, device)
    return precision


def autocast(device: torch.device, precision: Precision) -> AbstractContextManager[object]:
    dtype = precision.autocast_dtype
    return nullcontext() if dtype is None else torch.autocast(device_type=device.type, dtype=dtype)


def grad_scaler(device: torch.device, precision: Precision) -> torch.amp.GradScaler:
    """A training loss scaler that is active for fp16 only (a no-op pass-through otherwise)."""
    return torch.amp.GradScaler(device.type, enabled=precision is Precision.FP16)
