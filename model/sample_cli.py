"""``palette sample``: run a task on local image files with a checkpoint, on CPU or GPU, at the image's
resolution (:func:`model.fullres.run.run_task`, the path the workers take too); EXIF orientation applied."""

from __future__ import annotations

import argparse
import dataclasses
import json
import secrets
import sys
import time
from pathlib import Path

from PIL import Image, ImageOps, UnidentifiedImageError
from tqdm import tqdm

from model.checkpoint import CheckpointError
from model.fullres.defaults import default_steps
from model.fullres.run import job_plan, run_task
from model.pipeline import PalettePipeline, Precision, RuntimeOptions, resolve_device
from model.runtime.backend import Backend
from model.runtime.options import DEFAULT_PRECISION_HELP
from model.sampling import SamplerKind, SamplerSettings
from model.tasks import TaskInputError, get_task, task_names
from model.weights import resolve_weights


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="palette sample", description=__doc__)
    parser.add_argument("--task", required=True, choices=task_names())
    parser.add_argument("--image", required=True, type=Path)
    parser.add_argument("--mask", type=Path, help="inpainting mask: white = region to generate")
    parser.add_argument(
        "--option", action="append", default=[], metavar="NAME=VALUE", help="task option, e.g. sides=left"
    )
    parser.add_argument("--samples", type=int, default=4)
    parser.add_argument("--sampler", choices=[k.value for k in SamplerKind], default=SamplerKind.DDIM.value)
    parser.add_argument(
        "--steps", type=int, help="default: the task's (model/fullres/defaults.py), else the sampler's"
    )
    parser.add_argument("--eta", type=float, default=0.0, help="DDIM stochasticity (0 = deterministic)")
    parser.add_argument("--seed", type=int, help="sample k uses seed + k; random when omitted")
    parser.add_argument("--weights", help="checkpoint (default: $PALETTE_WEIGHTS, else the bundled weights)")
    parser.add_argument("--device", default="auto", help="auto, cpu, cuda, cuda:1, ...")
    parser.add_argument("--precision", choices=[p.value for p in Precision], help=DEFAULT_PRECISION_HELP)
    parser.add_argument(
        "--backend",
        choices=[b.value for b in Backend],
        help="what runs the network on the CPU (default: openvino for bf16, else onnxruntime)",
    )
    parser.add_argument("--threads", type=int, help="the network runtime's threads (default: all cores)")
    parser.add_argument("--out", required=True, type=Path)
    return parser


def _open_image(path: Path) -> Image.Image:
    with Image.open(path) as image:
        image.load()
        return ImageOps.exif_transpose(image)


def _parse_options(pairs: list[str]) -> dict[str, str]:
    options = {}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        if not sep:
            raise TaskInputError(f"--option expects NAME=VALUE, got {pair!r}")
        options[name] = value
    return options


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    task = get_task(args.task)
    kind = SamplerKind(args.sampler)
    try:
        steps = args.steps or default_steps(task.name, kind)
        settings = SamplerSettings(kind=kind, steps=steps, eta=args.eta)
        image = _open_image(args.image)
        mask = _open_image(args.mask) if args.mask else None
        options = _parse_options(args.option)
        task.validate(image, mask, options)
        device = resolve_device(args.device)
        # One request: compiling the network would take longer than sampling it (CUDA graphs still apply).
        runtime = RuntimeOptions.for_device(
            device,
            precision=Precision(args.precision) if args.precision else None,
            backend=Backend(args.backend) if args.backend else None,
            threads=args.threads,
        )
        runtime = dataclasses.replace(runtime, compile=None)
        pipeline = PalettePipeline.from_checkpoint(resolve_weights(args.weights), device, options=runtime)
    except (TaskInputError, CheckpointError, ValueError, OSError, UnidentifiedImageError) as error:
        print(f"palette sample: {error}", file=sys.stderr)
        return 2
    if args.samples < 1:
        print("palette sample: --samples must be at least 1", file=sys.stderr)
        return 2
    seed = args.seed if args.seed is not None else secrets.randbits(31)
    seeds = [seed + k for k in range(args.samples)]
    plan = job_plan(pipeline, task, image, mask, options, settings, len(seeds))
    started = time.perf_counter()
    with tqdm(total=plan.cost, desc=f"{task.name} x{args.samples}", unit="tile-step") as bar:
        images = run_task(
            pipeline,
            task,
            image,
            mask,
            options,
            settings,
            seeds,
            progress=lambda done, _: bar.update(done - bar.n),
        )
    elapsed = time.perf_counter() - started
    args.out.mkdir(parents=True, exist_ok=True)
    written = []
    for k, output in enumerate(images):
        path = args.out / f"{args.image.stem}-{task.name}-{k}.png"
        output.save(path)
        written.append(str(path))
    record = {
        "task": task.name,
        "image": str(args.image),
        "options": options,
        "sampler": kind.value,
        "steps": settings.steps,
        "size": list(images[0].size),
        "tile_steps": plan.cost,
        "eta": settings.eta,
        "seeds": seeds,
        "device": str(pipeline.device),
        "backend": str(pipeline.backend),
        "seconds": round(elapsed, 3),
        "samples": written,
    }
    (args.out / f"{args.image.stem}-{task.name}.json").write_text(json.dumps(record, indent=2))
    print(f"wrote {len(written)} samples to {args.out} in {elapsed:.1f} s (seed {seed})")
    return 0
