"""How the pipeline runs the network, and the defaults per device (measurements in benchmarks/RESULTS.md)."""

from __future__ import annotations

import enum
import importlib.util
from dataclasses import dataclass

import torch

from model.runtime.backend import Backend
from model.runtime.precision import Precision, check_precision, default_precision, native_bf16_cpu

CUDA_MAX_BATCH = 128  # 8 power-of-two buckets: 8 compilations and graphs at most
CPU_MAX_BATCH = 8  # throughput on a few cores stops growing well before this; latency does not


class CompileMode(enum.StrEnum):
    DEFAULT = "default"
    # Autotunes matmul/convolution kernels: slower to compile, sometimes faster to run. CUDA graphs are
    # ours (model.runtime.step), so Inductor's own are off in both modes.
    MAX_AUTOTUNE = "max-autotune-no-cudagraphs"


def powers_of_two(largest: int) -> tuple[int, ...]:
    """1, 2, 4, ... up to ``largest``: batch-size buckets with at most 2x wasted work on a partial batch,
    and few sizes to compile."""
    sizes = [1]
    while sizes[-1] * 2 <= largest:
        sizes.append(sizes[-1] * 2)
    return tuple(sizes)


# What a command line says of --precision left out.
DEFAULT_PRECISION_HELP = "default: bf16 on CUDA and (OpenVINO) on CPUs with native bf16, else fp32"


def default_cpu_sampling_precision(backend: Backend | None) -> Precision:
    """bf16 where the CPU multiplies it natively and OpenVINO (the runtime that runs it) is installed and
    not ruled out by ``backend``; fp32 (exact) everywhere else. bf16 scored as fp32 on every task of the
    model card's evaluation (model/weights/README.md, within 0.03 dB PSNR and 0.01 perceptual distance) at
    3.2-3.9x the speed of PyTorch fp32 (benchmarks/RESULTS.md)."""
    if backend not in (None, Backend.OPENVINO) or not native_bf16_cpu():
        return Precision.FP32
    return Precision.BF16 if importlib.util.find_spec(Backend.OPENVINO.package) else Precision.FP32


@dataclass(frozen=True)
class RuntimeOptions:
    """Every option changes speed, never results beyond the precision's rounding (tests/model/test_fast_path).

    ``buckets`` are the batch sizes a batch is padded to (empty: every batch runs at its own size): a
    compiled step and a captured CUDA graph are specialised to one batch size (:mod:`model.runtime.engine`);
    ``max_batch`` is the largest batch one network call takes; larger requests run in chunks.
    ``backend`` runs the network on the CPU through ONNX Runtime or OpenVINO (:mod:`model.runtime.backend`)
    with ``threads`` threads (None: ``torch.get_num_threads()``; with PyTorch, None leaves torch's setting).
    """

    precision: Precision = Precision.FP32
    channels_last: bool = False
    compile: CompileMode | None = None
    cuda_graphs: bool = False
    buckets: tuple[int, ...] = ()
    max_batch: int = CPU_MAX_BATCH
    backend: Backend = Backend.TORCH
    threads: int | None = None

    def __post_init__(self) -> None:
        if self.threads is not None and self.threads < 1:
            raise ValueError("threads must be at least 1")
        if self.backend is not Backend.TORCH:
            if self.compile is not None or self.cuda_graphs:
                raise ValueError(f"compilation and CUDA graphs are PyTorch's, not {self.backend}'s")
            if self.backend is Backend.ONNXRUNTIME and self.precision is not Precision.FP32:
                raise ValueError("onnxruntime runs the network in fp32; bf16 on the CPU: openvino or torch")
        if self.max_batch < 1:
            raise ValueError("max_batch must be at least 1")
        if any(size < 1 for size in self.buckets) or list(self.buckets) != sorted(set(self.buckets)):
            raise ValueError(f"buckets must be increasing positive sizes, got {self.buckets}")
        if self.buckets and self.max_batch > self.buckets[-1]:
            raise ValueError(
                f"max_batch {self.max_batch} is larger than the largest bucket {self.buckets[-1]}"
            )
        if self.cuda_graphs and not self.buckets:
            raise ValueError("CUDA graphs need batch-size buckets: a graph replays one fixed batch size")

    @classmethod
    def for_device(
        cls,
        device: torch.device,
        *,
        precision: Precision | None = None,
        backend: Backend | None = None,
        threads: int | None = None,
    ) -> RuntimeOptions:
        """CUDA: bf16 autocast, NHWC, compiled, one CUDA graph per power-of-two bucket.

        CPU: bf16 through OpenVINO where the CPU has native bf16 and OpenVINO is installed
        (:func:`default_cpu_sampling_precision`), else fp32 through ONNX Runtime (benchmarks/RESULTS.md:
        faster than PyTorch eager, equal within float32 rounding); ``precision`` fp32 asks for the exact mode
        anywhere. With the PyTorch backend (and as the fallback when the package is absent): fp32, NHWC,
        eager (NHWC was 1.2-1.4x faster and exact; compiling was no faster and takes minutes)."""
        if device.type == "cuda":
            if backend not in (None, Backend.TORCH):
                raise ValueError(f"the {backend} backend runs on the CPU; {device} runs PyTorch")
            return cls(
                precision=precision or default_precision(device),
                channels_last=True,
                compile=CompileMode.DEFAULT,
                cuda_graphs=True,
                buckets=powers_of_two(CUDA_MAX_BATCH),
                max_batch=CUDA_MAX_BATCH,
                backend=backend or Backend.TORCH,
                threads=threads,
            )
        if precision is None:
            precision = default_cpu_sampling_precision(backend)
        if backend is None:
            backend = Backend.ONNXRUNTIME if precision is Precision.FP32 else Backend.OPENVINO
        return cls(precision=precision, channels_last=True, backend=backend, threads=threads)

    def check_device(self, device: torch.device) -> None:
        if self.cuda_graphs and device.type != "cuda":
            raise ValueError(f"CUDA graphs need a CUDA device, not {device}")
        check_precision(self.precision, device)
        if self.backend is not Backend.TORCH and device.type != "cpu":
            raise ValueError(f"the {self.backend} backend runs on the CPU; {device} runs PyTorch")
