"""Sampling speed: the naive fp32 eager loop and the optimized path side by side, in one run.

Every row is one (model, batch, sampler, configuration); the ratios between configurations are measured
in the same process on the same device, never remembered from another run. Times are medians of repeated
runs after a warm-up run (compilation, graph capture and cuDNN's algorithm search happen there), taken
between device synchronisations; a run is a whole `sample` call: noise, every step, copy back to uint8.

    python benchmarks/sampling.py                        # GPU: reference-sized 256x256 and 64x64 models
    python benchmarks/sampling.py --preset demo          # the bundled 64x64 model's 4-sample DDIM-50 request
    python benchmarks/sampling.py --quick                # CPU, tiny model, a few steps (CI)
    python benchmarks/sampling.py --configs naive,fp32,bf16,bf16+cl,bf16+cl+compile,bf16+cl+compile+graphs
    python benchmarks/sampling.py --preset demo --resolution 256 --steps 4   # the bundled model at 256x256

Configurations: ``naive`` is the reference samplers (model.sampling) over the fp32 eager network, i.e.
the pipeline before the fast path; ``default`` is RuntimeOptions.for_device; any other name is a ``+`` list
of fp32|bf16|fp16, cl (channels_last), compile, autotune (compile with max-autotune), graphs (CUDA graphs
over power-of-two buckets), torch|ort|ov (the backend that runs the network: PyTorch, ONNX Runtime,
OpenVINO; model.runtime.backend), e.g. ``bf16+cl`` or ``bf16+ov``, each applied to the fused fast path.
On the CPU ``fp32+cl`` is the default before the ONNX backend (PyTorch fp32 eager, channels_last), and the
CPU's default ``--configs`` print it beside ``naive`` and today's ``default``.
"""

from __future__ import annotations

import argparse
import functools
import json
import statistics
import sys
import tempfile
from collections.abc import Callable
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import numpy as np
import torch
from common import (
    REPO,
    TINY_UNET,
    NaiveSampler,
    conditionings,
    forward_flops,
    machine,
    measured_peak_flops,
    random_checkpoint,
    synchronize,
    timed,
)

from model.checkpoint import read_checkpoint, save_checkpoint
from model.config import ModelConfig, UNetConfig
from model.pipeline import Conditioning, PalettePipeline, resolve_device
from model.runtime import CompileMode, Precision, RuntimeOptions
from model.runtime.backend import Backend
from model.runtime.memory import predicted_bytes_per_image
from model.runtime.options import CUDA_MAX_BATCH, powers_of_two
from model.sampling import SamplerKind, SamplerSettings
from model.weights import DEFAULT_WEIGHTS

NAIVE = "naive"
DEFAULT = "default"
TORCH_CPU_DEFAULT = "fp32+cl"  # the CPU default before the ONNX backend
BACKEND_TOKENS = {"torch": Backend.TORCH, "ort": Backend.ONNXRUNTIME, "ov": Backend.OPENVINO}

# The public implementation's 256x256 U-Net (shared/reference/peer-benchmark.md): 62.6 M parameters,
# 413 GFLOP per forward; its "attention at 16" only ever built the middle block's attention.
REFERENCE_UNET = UNetConfig(
    image_size=256,
    base_channels=64,
    channel_mult=(1, 2, 4, 8),
    num_res_blocks=2,
    attention_resolutions=(),
    head_channels=32,
    dropout=0.2,
)
# The bundled generalist's size, used when configs/demo-64.json does not exist.
DEMO_UNET = UNetConfig(
    image_size=64,
    base_channels=64,
    channel_mult=(1, 2, 2, 2),
    num_res_blocks=2,
    attention_resolutions=(16, 8),
)
DEMO_CONFIG_FILE = REPO / "configs" / "demo-64.json"


@dataclass(frozen=True)
class Model:
    name: str
    config: ModelConfig
    checkpoint: Path  # weights with the config embedded; pipelines load it as a worker does
    origin: str  # where the config and weights came from


@dataclass(frozen=True)
class Case:
    model: Model
    batch: int
    settings: SamplerSettings


@dataclass(frozen=True)
class Row:
    model: str
    configuration: str
    batch: int
    steps: int
    sampler: str
    timed_steps: int  # < steps: a naive chain timed on its first steps (same cost per step), scaled up
    ms_per_forward: float  # one step of the whole batch: network and update
    s_per_image: float
    images_per_s: float
    speedup: float  # the naive configuration's s/image over this one's, same case, same run
    floor_percent: float  # arithmetic floor (FLOPs x steps / device peak) over the measured time
    peak_mib_per_image: float
    memory_source: str  # "measured" (CUDA peak allocation) or "predicted" (CPU: traced shapes)
    mean_abs_diff: float | None  # uint8 levels against the naive fp32 output on the generated pixels
    p99_abs_diff: float | None


def make_model(
    name: str, config: ModelConfig, origin: str, workdir: Path, weights: Path | None = None
) -> Model:
    if weights is not None:
        return Model(name, read_checkpoint(weights).config, weights, f"{origin}, weights {weights}")
    path = random_checkpoint(workdir / f"{name}.safetensors", config)
    return Model(name, config, path, f"{origin}, random weights")


def demo_model(workdir: Path, weights: Path | None) -> Model:
    """The bundled default model (or any given checkpoint); its size from configs/demo-64.json, else
    assumed, with random weights when the bundled weights are not there yet (speed does not depend on
    the weights' values)."""
    bundled = weights or (DEFAULT_WEIGHTS if DEFAULT_WEIGHTS.exists() else None)
    if DEMO_CONFIG_FILE.exists():
        data = json.loads(DEMO_CONFIG_FILE.read_text())
        config, origin = ModelConfig.from_dict(data.get("model", data)), "configs/demo-64.json"
    else:
        config, origin = ModelConfig(unet=DEMO_UNET), "assumed size (configs/demo-64.json absent)"
    return make_model("demo-64", config, origin, workdir, bundled)


def preset_cases(preset: str, workdir: Path, weights: Path | None) -> list[Case]:
    ddim50 = SamplerSettings(SamplerKind.DDIM, steps=50)
    ddpm1000 = SamplerSettings(SamplerKind.DDPM, steps=1000)
    if preset == "quick":
        tiny = make_model("tiny-32", ModelConfig(unet=TINY_UNET), "tests' tiny size", workdir)
        return [
            Case(tiny, 1, SamplerSettings(SamplerKind.DDIM, steps=4)),
            Case(tiny, 4, SamplerSettings(SamplerKind.DDIM, steps=4)),
            Case(tiny, 4, SamplerSettings(SamplerKind.DDPM, steps=8)),
            Case(tiny, 4, SamplerSettings(SamplerKind.DPMPP_2M, steps=4)),
        ]
    if preset == "demo":
        return [Case(demo_model(workdir, weights), 4, ddim50)]
    origin = "the public implementation's size (peer-benchmark.md)"
    big = make_model("ref-256", ModelConfig(unet=REFERENCE_UNET), origin, workdir)
    small = make_model("ref-64", ModelConfig(unet=replace(REFERENCE_UNET, image_size=64)), origin, workdir)
    return [
        Case(big, 1, ddim50),
        Case(big, 4, ddim50),
        Case(big, 64, ddim50),
        Case(big, 64, ddpm1000),
        Case(small, 1, ddim50),
        Case(small, 4, ddim50),
        Case(small, 128, ddim50),
        Case(small, 128, ddpm1000),
    ]


def at_resolution(model: Model, size: int, workdir: Path) -> Model:
    """The same network, same weights, sampling size x size images: the U-Net is convolutional, and its
    attention blocks stay at the same levels (their feature-map sizes scale with the image)."""
    unet = model.config.unet
    if size == unet.image_size:
        return model
    scaled = replace(
        unet,
        image_size=size,
        attention_resolutions=tuple(r * size // unet.image_size for r in unet.attention_resolutions),
    )
    config = replace(model.config, unet=scaled)
    state = read_checkpoint(model.checkpoint).state
    path = save_checkpoint(workdir / f"{model.name}-at-{size}.safetensors", state, config)
    return Model(f"{model.name}@{size}", config, path, f"{model.origin}, run at {size}x{size}")


def override_cases(cases: list[Case], batches: list[int] | None, steps: int | None) -> list[Case]:
    """The preset's cases with other batch sizes (each model and sampler at each) or another step count."""
    if batches is not None:
        unique = {(c.model.name, c.settings): c for c in cases}.values()
        cases = [replace(case, batch=batch) for case in unique for batch in batches]
    if steps is not None:
        cases = [replace(case, settings=replace(case.settings, steps=steps)) for case in cases]
    return cases


def parse_configuration(name: str, device: torch.device, largest_batch: int) -> RuntimeOptions | None:
    """None for the naive loop; otherwise the options the name spells (see the module docstring)."""
    if name == NAIVE:
        return None
    if name == DEFAULT:
        return RuntimeOptions.for_device(device)
    options = RuntimeOptions(max_batch=largest_batch)
    for token in name.split("+"):
        if token in {p.value for p in Precision}:
            options = replace(options, precision=Precision(token))
        elif token == "cl":
            options = replace(options, channels_last=True)
        elif token in ("compile", "autotune"):
            mode = CompileMode.DEFAULT if token == "compile" else CompileMode.MAX_AUTOTUNE
            options = replace(options, compile=mode)
        elif token == "graphs":
            largest = max(largest_batch, CUDA_MAX_BATCH)
            options = replace(options, cuda_graphs=True, buckets=powers_of_two(largest), max_batch=largest)
        elif token in BACKEND_TOKENS:
            options = replace(options, backend=BACKEND_TOKENS[token])
        else:
            raise ValueError(f"unknown configuration token {token!r} in {name!r}")
    return options


Sampler = Callable[[list[Conditioning], list[int], SamplerSettings], np.ndarray]


class Bench:
    """Runs cases; keeps one sampler per (model, configuration) so that compiled steps and captured
    graphs are reused across cases, as a worker reuses them across requests."""

    def __init__(self, device: torch.device, repeats: int, naive_step_limit: int, peak_flops: float) -> None:
        self.device = device
        self.repeats = repeats
        self.naive_step_limit = naive_step_limit
        self.peak_flops = peak_flops
        self.samplers: dict[tuple[str, str], Sampler] = {}
        self.peak_bytes: dict[tuple[str, str, int], int] = {}
        self.flops: dict[str, int] = {}

    def sampler(self, model: Model, name: str, options: RuntimeOptions | None) -> Sampler:
        key = (model.name, name)
        if key not in self.samplers:
            if options is None:
                self.samplers[key] = NaiveSampler(model.checkpoint, self.device).sample
            else:
                pipeline = PalettePipeline.from_checkpoint(model.checkpoint, self.device, options=options)
                self.samplers[key] = pipeline.sample
        return self.samplers[key]

    def case(self, case: Case, configurations: dict[str, RuntimeOptions | None]) -> list[Row]:
        """Every configuration on ``case``. Each is warmed up first; then the timed runs take turns, so that
        anything else the machine does at the time slows them alike and the ratios hold. The naive run (when
        asked for) is the reference for speed-up and output."""
        inputs = conditionings(case.batch, case.model.config.resolution)
        seeds = list(range(case.batch))
        runs: dict[str, Callable[[], np.ndarray]] = {}
        timed_steps: dict[str, int] = {}
        for name, options in configurations.items():
            sample = self.sampler(case.model, name, options)
            steps = case.settings.steps
            if options is None and steps > self.naive_step_limit:
                steps = self.naive_step_limit
            settings = replace(case.settings, steps=steps)
            baseline = self._memory_baseline()
            sample(inputs, seeds, replace(settings, steps=min(2, steps)))  # compile, capture, tune
            runs[name] = functools.partial(sample, inputs, seeds, settings)
            timed_steps[name] = steps
            self._record_peak(case, name, baseline)
        times: dict[str, list[float]] = {name: [] for name in runs}
        outputs: dict[str, np.ndarray] = {}
        names = list(runs)
        for repeat in range(self.repeats):
            # Rotate the order each round: a run right after another one is not quite as fast or as slow
            # (allocator and cache state; measured on the CPU), so no configuration always goes first.
            shift = repeat % len(names)
            for name in names[shift:] + names[:shift]:
                seconds, outputs[name] = timed(runs[name], self.device)
                times[name].append(seconds / timed_steps[name])
        per_step = {name: statistics.median(values) for name, values in times.items()}
        full = {name for name, steps in timed_steps.items() if steps == case.settings.steps}
        naive = next((name for name, options in configurations.items() if options is None), None)
        rows = []
        for name in runs:
            reference = outputs[naive] if naive in full and name in full else None
            rows.append(self.row(case, name, per_step, timed_steps[name], outputs[name], reference, naive))
            print(
                f"#   {case.model.name} b{case.batch} {name}: {rows[-1].s_per_image:.4g} s/image",
                file=sys.stderr,
            )
        return rows

    def row(
        self,
        case: Case,
        name: str,
        per_step: dict[str, float],
        timed_steps: int,
        output: np.ndarray,
        reference: np.ndarray | None,
        naive: str | None,
    ) -> Row:
        steps = case.settings.steps
        s_per_image = per_step[name] * steps / case.batch
        flops = self.flops.setdefault(case.model.name, forward_flops(case.model.config.unet))
        floor = flops * steps / self.peak_flops
        peak, memory_source = self._peak_per_image(case, name)
        diff = None
        if reference is not None:
            generated = conditionings(1, case.model.config.resolution)[0].mask
            diff = np.abs(output.astype(np.int16) - reference)[:, generated]
        return Row(
            model=case.model.name,
            configuration=name,
            batch=case.batch,
            steps=steps,
            sampler=case.settings.kind.value,
            timed_steps=timed_steps,
            ms_per_forward=per_step[name] * 1e3,
            s_per_image=s_per_image,
            images_per_s=1.0 / s_per_image,
            speedup=per_step[naive] / per_step[name] if naive is not None else 1.0,
            floor_percent=100.0 * floor / s_per_image,
            peak_mib_per_image=peak / 2**20,
            memory_source=memory_source,
            mean_abs_diff=None if diff is None else float(diff.mean()),
            p99_abs_diff=None if diff is None else float(np.percentile(diff, 99)),
        )

    def _memory_baseline(self) -> int:
        if self.device.type != "cuda":
            return 0
        synchronize(self.device)
        torch.cuda.reset_peak_memory_stats(self.device)
        return torch.cuda.memory_allocated(self.device)

    def _record_peak(self, case: Case, name: str, baseline: int) -> None:
        """Peak CUDA allocation above what was allocated before the warm-up. A graph's activations are
        allocated only while it is captured, so a (model, configuration, batch) keeps its first figure."""
        if self.device.type == "cuda":
            key = (case.model.name, name, case.batch)
            measured = torch.cuda.max_memory_allocated(self.device) - baseline
            self.peak_bytes[key] = max(self.peak_bytes.get(key, 0), measured)

    def _peak_per_image(self, case: Case, name: str) -> tuple[float, str]:
        if self.device.type != "cuda":  # no allocation statistics on the CPU: the traced prediction
            return predicted_bytes_per_image(case.model.config.unet), "predicted"
        return self.peak_bytes[(case.model.name, name, case.batch)] / case.batch, "measured"


COLUMNS = (
    "model",
    "configuration",
    "batch",
    "steps",
    "sampler",
    "ms/forward",
    "s/image",
    "images/s",
    "x naive",
    "% of floor",
    "peak MiB/image",
    "Δ vs naive (mean, p99)",
)


def format_table(rows: list[Row]) -> str:
    lines = ["| " + " | ".join(COLUMNS) + " |", "|" + "---|" * len(COLUMNS)]
    for row in rows:
        steps = str(row.steps) if row.timed_steps == row.steps else f"{row.steps} (timed {row.timed_steps})"
        memory = f"{row.peak_mib_per_image:.1f}" + (" (pred.)" if row.memory_source == "predicted" else "")
        diff = "-" if row.mean_abs_diff is None else f"{row.mean_abs_diff:.2f}, {row.p99_abs_diff:.0f}"
        cells = [
            row.model,
            row.configuration,
            str(row.batch),
            steps,
            row.sampler,
            f"{row.ms_per_forward:.2f}",
            f"{row.s_per_image:.4g}",
            f"{row.images_per_s:.4g}",
            f"{row.speedup:.2f}",
            f"{row.floor_percent:.1f}",
            memory,
            diff,
        ]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def int_list(text: str) -> list[int]:
    return [int(part) for part in text.split(",")]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="CI settings: the quick preset, on the CPU")
    parser.add_argument(
        "--preset", choices=["reference", "demo", "quick"], help="default: reference on CUDA, demo on CPU"
    )
    parser.add_argument("--device", default="auto")
    parser.add_argument(
        "--configs",
        help=f"comma-separated (see above); default {NAIVE},{DEFAULT} (CPU: also {TORCH_CPU_DEFAULT})",
    )
    parser.add_argument(
        "--batches", type=int_list, help="run each of the preset's cases at these batch sizes"
    )
    parser.add_argument("--steps", type=int, help="override the preset's step counts")
    parser.add_argument("--resolution", type=int, help="run the preset's models at this image size")
    parser.add_argument("--weights", type=Path, help="demo preset checkpoint (default: bundled, else random)")
    parser.add_argument("--repeats", type=int, default=3, help="timed runs per row; the median is reported")
    parser.add_argument(
        "--naive-step-limit", type=int, default=100, help="time longer naive chains on their first N steps"
    )
    parser.add_argument("--peak-tflops", type=float, help="device peak for the floor (default: measured)")
    parser.add_argument("--threads", type=int, help="CPU threads (default: torch's)")
    parser.add_argument("--json", type=Path, help="also write the machine and the rows here")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    device = torch.device("cpu") if args.quick else resolve_device(args.device)
    if args.threads:
        torch.set_num_threads(args.threads)
    preset = "quick" if args.quick else args.preset or ("reference" if device.type == "cuda" else "demo")
    repeats = 2 if args.quick else args.repeats
    with tempfile.TemporaryDirectory() as workdir:
        cases = override_cases(preset_cases(preset, Path(workdir), args.weights), args.batches, args.steps)
        if args.resolution:
            resized = {c.model.name: at_resolution(c.model, args.resolution, Path(workdir)) for c in cases}
            cases = [replace(case, model=resized[case.model.name]) for case in cases]
        largest = max(case.batch for case in cases)
        names = args.configs or (
            f"{NAIVE},{TORCH_CPU_DEFAULT},{DEFAULT}" if device.type == "cpu" else f"{NAIVE},{DEFAULT}"
        )
        configurations = {name: parse_configuration(name, device, largest) for name in names.split(",")}
        if args.peak_tflops:
            peak, peak_source = args.peak_tflops * 1e12, "given with --peak-tflops"
        else:
            peak, peak_source = measured_peak_flops(device)
        info = machine(device)
        print(f"# {info['device']}; torch {info['torch']}; commit {info['commit']}")
        print(f"# load average before the run (1, 5, 15 min): {info['load_average']}")
        print(f"# device peak {peak / 1e12:.2f} TFLOP/s ({peak_source}); preset {preset}")
        bench = Bench(device, repeats, args.naive_step_limit, peak)
        rows = [row for case in cases for row in bench.case(case, configurations)]
        for model in {case.model.name: case.model for case in cases}.values():
            print(f"# {model.name}: {bench.flops[model.name] / 1e9:.2f} GFLOP/forward; {model.origin}")
    print(format_table(rows))
    if args.json:
        report = {"machine": info, "peak_flops": peak, "peak_source": peak_source, "preset": preset}
        args.json.write_text(json.dumps({**report, "rows": [asdict(r) for r in rows]}, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
