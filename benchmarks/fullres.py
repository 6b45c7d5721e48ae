"""Time a 4-sample request at the upload's resolution, per task and size, with the service's defaults.

Each case runs :func:`model.fullres.run.run_task` exactly as a worker does: the bundled weights (or
``--weights``), the task's default steps (:mod:`model.fullres.defaults`) with DDIM, 4 samples, and each
runtime configuration of ``--configs`` in turn on the same request (names as in ``sampling.py``; on the
CPU the default prints the PyTorch path before the ONNX backend, ``fp32+cl``, the exact ONNX Runtime path,
``fp32+ort``, and the worker's own, ``default``), with the speed-up of each over the first. Inputs: the
astronaut photo resized to the size; inpainting a centred box of 16% of the photo (the evaluation's
condition); uncropping with the default sides ("all": the canvas is twice the size on both axes).

    OMP_WAIT_POLICY=PASSIVE python benchmarks/fullres.py                       # every task, 512x512, 1024x768
    python benchmarks/fullres.py --tasks restore,inpaint --sizes 256x256 --configs fp32+cl,fp32+ort
    python benchmarks/fullres.py --tasks restore,inpaint --sizes 512x512 --plan-only   # costs, no sampling
    python benchmarks/fullres.py --quick                                       # tiny model, small sizes (CI)
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

import numpy as np
from common import TINY_UNET, machine, random_checkpoint
from PIL import Image
from sampling import DEFAULT, TORCH_CPU_DEFAULT, parse_configuration

from model.config import ModelConfig
from model.fullres.defaults import default_steps
from model.fullres.run import job_plan, run_task
from model.pipeline import PalettePipeline, RuntimeOptions, resolve_device
from model.sampling import SamplerKind, SamplerSettings
from model.tasks import get_task
from model.weights import resolve_weights

TASKS = ("restore", "colorize", "inpaint", "uncrop")
SIZES = ("512x512", "1024x768")
EXACT_ORT = "fp32+ort"  # the exact mode of the ONNX backend: the default on CPUs without native bf16
CPU_CONFIGS = (TORCH_CPU_DEFAULT, EXACT_ORT, DEFAULT)
QUICK_SIZES = ("96x64",)


def photo(width: int, height: int) -> Image.Image:
    from skimage import data

    return Image.fromarray(data.astronaut()).resize((width, height), Image.Resampling.LANCZOS)


def centred_box(width: int, height: int) -> Image.Image:
    mask = np.zeros((height, width), dtype=np.uint8)
    box_w, box_h = round(width * 0.4), round(height * 0.4)
    top, left = (height - box_h) // 2, (width - box_w) // 2
    mask[top : top + box_h, left : left + box_w] = 255
    return Image.fromarray(mask)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--tasks", default=",".join(TASKS))
    parser.add_argument("--sizes", help=f"default {','.join(SIZES)} ({','.join(QUICK_SIZES)} with --quick)")
    parser.add_argument("--samples", type=int, default=4)
    parser.add_argument("--weights")
    parser.add_argument("--configs", default=",".join(CPU_CONFIGS), help="as in sampling.py; the first is x1")
    parser.add_argument("--plan-only", action="store_true", help="print the tile-step costs, sample nothing")
    parser.add_argument("--quick", action="store_true", help="CI: the tests' tiny random model, small sizes")
    args = parser.parse_args()
    device = resolve_device("cpu")
    tiles_per_call = RuntimeOptions.for_device(device).max_batch
    names = args.configs.split(",")
    configurations = {name: parse_configuration(name, device, tiles_per_call) for name in names}
    sizes = (args.sizes or ",".join(QUICK_SIZES if args.quick else SIZES)).split(",")
    with tempfile.TemporaryDirectory() as workdir:
        weights = (
            random_checkpoint(Path(workdir) / "tiny.safetensors", ModelConfig(unet=TINY_UNET))
            if args.quick
            else resolve_weights(args.weights)
        )
        pipelines = {
            name: PalettePipeline.from_checkpoint(weights, device, options=options or RuntimeOptions())
            for name, options in configurations.items()
        }
        for pipeline in pipelines.values():
            pipeline.warm_up([tiles_per_call])  # exports and session starts happen here, as in a worker
        info = machine(device)
        print(f"# {info['device']}; torch {info['torch']}; commit {info['commit']}")
        load = os.getloadavg()[0]
        print(f"# load average {load:.2f}; {tiles_per_call} tiles per call, {args.samples} samples")
        for name, pipeline in pipelines.items():
            print(f"# {name}: backend {pipeline.backend}, {pipeline.precision}")
        print(f"# each configuration: seconds for the request (its speed-up over {names[0]})")
        columns = " | ".join(names)
        print(f"| task | upload | output | steps (ddim) | passes | tile-steps | {columns} |")
        print("|---|---|---|---|---|---|" + "---|" * len(names))
        for size in sizes:
            width, height = (int(side) for side in size.split("x"))
            for name in args.tasks.split(","):
                print(time_case(pipelines, name, width, height, args.samples, args.plan_only), flush=True)


def time_case(
    pipelines: dict[str, PalettePipeline], name: str, width: int, height: int, samples: int, plan_only: bool
) -> str:
    """One table row: the same request run by every pipeline, its seconds and speed-up over the first."""
    task = get_task(name)
    image = photo(width, height)
    mask = centred_box(width, height) if task.needs_mask else None
    settings = SamplerSettings(SamplerKind.DDIM, default_steps(name, SamplerKind.DDIM))
    seeds = list(range(samples))
    first = next(iter(pipelines.values()))
    plan = job_plan(first, task, image, mask, {}, settings, len(seeds))
    passes = " + ".join(f"{p.name} {p.width}x{p.height}: {p.steps} x {p.tiles} tiles" for p in plan.passes)
    seconds: list[float] = []
    output = "-"
    for pipeline in pipelines.values():
        if plan_only:
            seconds.append(float("nan"))
            continue
        started = time.perf_counter()
        images = run_task(pipeline, task, image, mask, {}, settings, seeds)
        seconds.append(time.perf_counter() - started)
        output = f"{images[0].width}x{images[0].height}"
    # Four significant digits: a quick run's colorization takes milliseconds, which two decimals print as 0.
    timings = " | ".join(f"{s:.4g} ({seconds[0] / s:.2f}x)" for s in seconds)
    return f"| {name} | {width}x{height} | {output} | {settings.steps} | {passes} | {plan.cost} | {timings} |"


if __name__ == "__main__":
    main()
