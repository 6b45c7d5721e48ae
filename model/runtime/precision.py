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


def native_bf16_cpu() -> bool:
    """Whether this CPU multiplies bf16 in hardware (AVX512-BF16 or AMX). Elsewhere bf16 is emulated
    (OpenVINO's bf16 ran 3-4x slower than its fp32 on an AVX-512 CPU without them), so it is never a default
    there. Read from torch's cpuinfo probe rather than from OpenVINO, which is not imported to ask."""
    probes = ("_is_avx512_bf16_supported", "_is_amx_tile_supported")
    return any(getattr(torch.cpu, probe, lambda: False)() for probe in probes)


def check_precision(precision: Precision, device: torch.device) -> None:
    """fp16 is refused off CUDA: CPU autocast does not support it well, and bf16 is there without a loss
    scaler."""
    if precision is Precision.FP16 and device.type != "cuda":
        raise ValueError(f"fp16 needs a CUDA device, not {device}; use fp32 or bf16 on the CPU")


def resolve_precision(choice: Precision | None, device: torch.device) -> Precision:
    """``choice``, or the device's default when None; checked against the device."""
    precision = default_precision(device) if choice is None else choice
    check_precision(precision, device)
    return precision


def autocast(device: torch.device, precision: Precision) -> AbstractContextManager[object]:
    dtype = precision.autocast_dtype
    return nullcontext() if dtype is None else torch.autocast(device_type=device.type, dtype=dtype)


def grad_scaler(device: torch.device, precision: Precision) -> torch.amp.GradScaler:
    """A training loss scaler that is active for fp16 only (a no-op pass-through otherwise)."""
    return torch.amp.GradScaler(device.type, enabled=precision is Precision.FP16)
