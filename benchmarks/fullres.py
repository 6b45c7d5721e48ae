"""Time a 4-sample request at the upload's resolution, per task and size, with the service's defaults.

Each case runs :func:`model.fullres.run.run_task` exactly as a worker does: the bundled weights (or
``--weights``), the worker's runtime options for the CPU (``RuntimeOptions.for_device``), the task's
default steps (:mod:`model.fullres.defaults`) with DDIM, 4 samples. Inputs: the astronaut photo resized to
the size; inpainting a centred box of 16% of the photo (the evaluation's condition); uncropping with the
default sides ("all": the canvas is twice the size on both axes).

    OMP_WAIT_POLICY=PASSIVE python benchmarks/fullres.py                       # every task, 512x512, 1024x768
    python benchmarks/fullres.py --tasks restore,inpaint --sizes 512x512 --plan-only   # costs, no sampling
"""

from __future__ import annotations

import argparse
import os
import time

import numpy as np
from PIL import Image

from model.fullres.defaults import default_steps
from model.fullres.run import job_plan, run_task
from model.pipeline import PalettePipeline, RuntimeOptions, resolve_device
from model.sampling import SamplerKind, SamplerSettings
from model.tasks import get_task
from model.weights import resolve_weights

TASKS = ("restore", "colorize", "inpaint", "uncrop")
SIZES = ("512x512", "1024x768")


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
    parser.add_argument("--sizes", default=",".join(SIZES))
    parser.add_argument("--samples", type=int, default=4)
    parser.add_argument("--weights")
    parser.add_argument("--plan-only", action="store_true", help="print the tile-step costs, sample nothing")
    args = parser.parse_args()
    device = resolve_device("cpu")
    options = RuntimeOptions.for_device(device)
    pipeline = PalettePipeline.from_checkpoint(resolve_weights(args.weights), device, options=options)
    load = os.getloadavg()[0]
    print(f"load average {load:.2f}, backend {pipeline.backend}, {options.max_batch} tiles per call")
    print("| task | upload | output | steps (ddim) | passes | tile-steps | seconds | tile-steps/s |")
    print("|---|---|---|---|---|---|---|---|")
    for size in args.sizes.split(","):
        width, height = (int(side) for side in size.split("x"))
        for name in args.tasks.split(","):
            task = get_task(name)
            image = photo(width, height)
            mask = centred_box(width, height) if task.needs_mask else None
            settings = SamplerSettings(SamplerKind.DDIM, default_steps(name, SamplerKind.DDIM))
            seeds = list(range(args.samples))
            plan = job_plan(pipeline, task, image, mask, {}, settings, len(seeds))
            passes = " + ".join(
                f"{p.name} {p.width}x{p.height}: {p.steps} x {p.tiles} tiles" for p in plan.passes
            )
            seconds = float("nan")
            output = "-"
            if not args.plan_only:
                started = time.perf_counter()
                images = run_task(pipeline, task, image, mask, {}, settings, seeds)
                seconds = time.perf_counter() - started
                output = f"{images[0].width}x{images[0].height}"
            speed = plan.cost / seconds if seconds == seconds else float("nan")
            print(
                f"| {name} | {size} | {output} | {settings.steps} | {passes} | {plan.cost} | {seconds:.1f} | "
                f"{speed:.1f} |",
                flush=True,
            )


if __name__ == "__main__":
    main()
