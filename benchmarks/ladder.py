"""The recipe ladder: train each variant for the same number of examples on one thread, score it with
``palette eval`` on the held-out photos, print one table.

    python benchmarks/ladder.py --out runs/ladder                 # every variant, one after the other
    python benchmarks/ladder.py --out runs/ladder --only residual  # one of them
    python benchmarks/ladder.py --out runs/ladder --table-only     # the table from finished runs

Every variant starts from ``configs/ladder/paper-64.json`` (today's recipe on a 2.8 M-parameter U-Net)
and changes only what its row names, so the rows differ by recipe, never by data, network or budget. Each
run is one thread (``OMP_NUM_THREADS=1``) so two ladders, or a ladder beside a long run, share the two
cores evenly; runs are resumed where they stopped, and finished ones are skipped.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
BASE_CONFIG = REPO / "configs" / "ladder" / "paper-64.json"
SAMPLERS = ("ddim:1", "ddim:25")  # the one-step estimate, and the sampler the targets are set at

_EDM = [
    "model.diffusion.prediction=y0",
    "model.diffusion.preconditioning=edm",
    "model.diffusion.noise_levels=log_normal",
    "model.diffusion.loss_weighting=edm",
]
# The residual recipe's overrides that every residual rung shares (sampling levels and the rest differ).
_RESIDUAL = [
    *_EDM,
    "model.diffusion.target=residual",
    "model.diffusion.sigma_data=0.3",
    "model.diffusion.p_mean=-1.4",
    "model.diffusion.p_std=1.5",
]
_KARRAS = {"kind": "karras", "num_steps": 1000, "sigma_min": 0.002, "rho": 7.0}


def _karras(sigma_max: float, sample_sigma_max: float | None = None) -> list[str]:
    """Karras levels up to ``sigma_max`` for training, ``sample_sigma_max`` (default the same) for sampling:
    the residual recipe's one-step estimate was best from sigma 5 until training visited the first sampling
    level itself, then from sigma 80, where the start is pure noise (model/weights/README.md)."""
    train = json.dumps({**_KARRAS, "sigma_max": sigma_max})
    sample = json.dumps({**_KARRAS, "sigma_max": sample_sigma_max or sigma_max})
    return [f"model.diffusion.train_schedule={train}", f"model.diffusion.sample_schedule={sample}"]


# The residual recipe from sigma 80 with the start level trained (session 4), which later rungs extend.
_RESIDUAL_START = [
    *_RESIDUAL,
    *_karras(20.0, sample_sigma_max=80.0),
    "model.diffusion.start_level_fraction=0.125",
    "model.diffusion.prior=smoothed_telea",
]

DEFAULT_VARIANT = "residual-task-starts-ns"  # the recipe of configs/residual-64.json
# Name -> (what it is, the overrides of the base config).
VARIANTS: dict[str, tuple[str, list[str]]] = {
    "paper": ("the paper's: v-prediction, its linear schedules, levels uniform", []),
    "min-snr": ("paper + Min-SNR-5 weighting", ["model.diffusion.loss_weighting=min_snr"]),
    "edm": (
        "EDM: preconditioning (sigma_data 0.5), log-normal sigma (-1.2, 1.2), Karras levels",
        [*_EDM, "model.diffusion.sigma_data=0.5", *_karras(80.0)],
    ),
    "residual": (
        "EDM over the classical prior: residual target, sigma_data 0.3, log-normal (-1.4, 1.5)",
        [
            *_RESIDUAL,
            *_karras(20.0, sample_sigma_max=5.0),
        ],
    ),
    "residual-start": (
        "residual over the smoothed fill, 1/8 of examples at the first sampling level, sigma 80",
        _RESIDUAL_START,
    ),
    "residual-task-starts": (
        "residual-start, each task's start examples where its default request starts",
        [*_RESIDUAL_START, "model.diffusion.task_start_levels=true"],
    ),
    "residual-task-starts-ns": (
        "residual-task-starts over the smoothed Navier-Stokes fill instead of Telea's, the correction of a"
        " fill faded in over 8 pixels from the hole's edge (default)",
        [
            *_RESIDUAL_START,
            "model.diffusion.task_start_levels=true",
            "model.diffusion.prior=smoothed_navier_stokes",
            "model.diffusion.residual_taper=8",
        ],
    ),
    "residual-att8": (
        "residual, self-attention at 8x8 only",
        [
            *_RESIDUAL,
            *_karras(20.0, sample_sigma_max=5.0),
            "model.unet.attention_resolutions=[8]",
        ],
    ),
}


def _run(command: list[str], log: Path) -> None:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "OMP_WAIT_POLICY": "PASSIVE"}
    with log.open("a") as handle:
        subprocess.run(command, check=True, stdout=handle, stderr=subprocess.STDOUT, env=env, cwd=REPO)


def run_variant(name: str, out: Path, data: Path) -> None:
    _, overrides = VARIANTS[name]
    run = out / name
    palette = [sys.executable, "-m", "palette.cli"]
    weights = run / "final.safetensors"
    log = out / f"{name}.log"
    if not weights.is_file():
        started = time.perf_counter()
        sets = [item for override in overrides for item in ("--set", override)]
        resume = ["--resume", "auto"] if (run / "config.json").is_file() else []
        _run([*palette, "train", "--config", str(BASE_CONFIG), *sets, "--out", str(run), *resume], log)
        (run / "train-seconds.txt").write_text(f"{time.perf_counter() - started:.0f}\n")
    if not (run / "eval" / "report.json").is_file():
        samplers = [item for sampler in SAMPLERS for item in ("--sampler", sampler)]
        evaluate = ["eval", "--weights", str(weights), "--data", str(data), "--out", str(run / "eval")]
        _run([*palette, *evaluate, "--samples", "2", "--crops", "4", *samplers], log)


def table(out: Path) -> str:
    """Markdown: per variant and task, PSNR / perceptual / FD at each sampler, and the best baseline."""
    lines = [
        "| variant | task | " + " | ".join(f"{s} PSNR / perc. / FD" for s in SAMPLERS) + " | baseline |",
        "|---|---|" + "---|" * (len(SAMPLERS) + 1),
    ]
    for name in VARIANTS:
        report_path = out / name / "eval" / "report.json"
        if not report_path.is_file():
            continue
        report = json.loads(report_path.read_text())
        for task, result in report["tasks"].items():
            cells, baseline = {}, ""
            for row in result["rows"]:
                m = row["metrics"]
                text = f"{m['psnr']:.2f} / {m['perceptual']:.3f} / {m['fd_effnetlite0']:.1f}"
                if row["kind"] == "model":
                    cells[row["name"].removeprefix("Palette ")] = text
                elif not baseline:
                    baseline = f"{row['name']}: {text}"
            shown = " | ".join(cells.get(sampler, "-") for sampler in SAMPLERS)
            lines.append(f"| {name} | {task} | {shown} | {baseline} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument("--out", type=Path, default=REPO / "runs" / "ladder")
    parser.add_argument("--data", type=Path, default=REPO / "data" / "demo" / "val")
    parser.add_argument("--only", action="append", choices=sorted(VARIANTS), help="repeatable")
    parser.add_argument("--table-only", action="store_true")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    if not args.table_only:
        for name in args.only or list(VARIANTS):
            run_variant(name, args.out, args.data)
    for name, (about, _) in VARIANTS.items():
        print(f"- {name}: {about}")
    print(table(args.out))


if __name__ == "__main__":
    main()
