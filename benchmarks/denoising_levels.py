"""The network's one-shot estimate per noise level: PSNR of the y0 estimate on held-out crops, per task,
against the task's source itself (the table of issue 12).

    python benchmarks/denoising_levels.py --weights model/weights/palette-default.safetensors \\
        --data data/demo-1024/val

sigma = sqrt((1 - gamma) / gamma). A model that uses its conditioning beats what it is conditioned on (the
source, or for a residual model the classical prior it refines: the last column) at every level; a residual
model starts there by construction. Inpainting and uncropping are scored on the generated pixels.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import torch

from model.checkpoint import build_network, read_checkpoint
from model.diffusion import process
from model.diffusion.schedule import gamma_from_sigma
from model.diffusion.target import known_values, to_diffused, to_image
from model.evaluation.conditions import conditions_for
from model.evaluation.heldout import CROP_FRACTION, degrade_all, load_crops
from model.imaging import images_to_tensor, masks_to_tensor, tensor_to_images
from model.pipeline import Conditioning, network_source
from model.sampling import network_denoiser
from model.training.evaluation import masked_psnr

SIGMAS = (0.01, 0.1, 1.0, 3.0, 10.0, 80.0)  # 80: where sampling starts (pure noise), the one-step estimate


@torch.inference_mode()
def level_table(weights: Path, data: Path, crops: int, seed: int) -> str:
    checkpoint = read_checkpoint(weights)
    network, config = build_network(checkpoint), checkpoint.config
    diffusion = config.diffusion
    denoise = network_denoiser(network, diffusion.prediction, target=diffusion.target)
    ground_truths = load_crops(data, config.resolution, crops, CROP_FRACTION, seed, None)
    lines = [
        "| condition | " + " | ".join(f"sigma {s:g}" for s in SIGMAS) + " | what it refines |",
        "|---|" + "---|" * (len(SIGMAS) + 1),
    ]
    generator = torch.Generator().manual_seed(seed)
    for task in config.tasks:
        for condition in conditions_for(task):
            inputs = degrade_all(condition, ground_truths, seed)
            conditions = [Conditioning(item.source, item.mask) for item in inputs]
            source = images_to_tensor([network_source(c, diffusion) for c in conditions])
            mask = masks_to_tensor([item.mask for item in inputs])
            target = images_to_tensor([item.target for item in inputs])
            diffused = to_diffused(target, source, diffusion.target)
            cells = []
            for sigma in SIGMAS:
                gamma = gamma_from_sigma(torch.full((len(inputs),), sigma))
                noise = torch.randn(diffused.shape, generator=generator)
                noisy = process.q_sample(diffused, gamma, noise)
                y_t = torch.where(mask > 0.5, noisy, known_values(source, diffusion.target))
                estimate = denoise(y_t, gamma, source=source, mask=mask)
                images = tensor_to_images(to_image(estimate, source, diffusion.target))
                pairs = zip(images, inputs, strict=True)
                cells.append(f"{np.mean([masked_psnr(im, it.target, it.mask) for im, it in pairs]):.2f}")
            refined = tensor_to_images(source)  # the source, or the prior a residual model refines
            baseline = np.mean(
                [masked_psnr(im, it.target, it.mask) for im, it in zip(refined, inputs, strict=True)]
            )
            lines.append(f"| {condition.key} | " + " | ".join(cells) + f" | {baseline:.2f} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument("--weights", type=Path, required=True)
    parser.add_argument("--data", type=Path, required=True)
    parser.add_argument("--crops", type=int, default=4)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    print(level_table(args.weights, args.data, args.crops, args.seed))


if __name__ == "__main__":
    main()
