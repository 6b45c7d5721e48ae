"""What the benchmarks and their tests share: the tiny model and random weights, the inputs, the naive
sampler every speed-up is measured against, timing, FLOP counting and the machine a table was measured on.

The scripts import it as ``common`` (``python benchmarks/x.py`` puts this folder first on the path); the
tests as ``benchmarks.common`` (pytest's ``pythonpath`` is the repository).
"""

from __future__ import annotations

import os
import platform
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
from torch import Tensor
from torch.utils.flop_counter import FlopCounterMode

from model.checkpoint import build_network, read_checkpoint, save_checkpoint
from model.config import ModelConfig, UNetConfig
from model.imaging import images_to_tensor, masks_to_tensor, tensor_to_images
from model.nn import PaletteUNet, create_network
from model.pipeline import Conditioning, network_source
from model.sampling import ConditionalNetwork, PerExampleNoise, SamplerSettings, sample_network

REPO = Path(__file__).resolve().parent.parent

# Two levels, one attention resolution: ~0.4 M parameters, a forward pass in milliseconds on a CPU.
TINY_UNET = UNetConfig(
    image_size=32,
    base_channels=16,
    channel_mult=(1, 2),
    num_res_blocks=1,
    attention_resolutions=(16,),
    head_channels=16,
    groups=8,
)


def random_network(config: ModelConfig, seed: int = 0) -> PaletteUNet:
    """The network ``config`` describes with random weights, its zero-initialised output layers randomised
    too: a fresh ADM U-Net outputs exactly zero, which would make speed and precision comparisons vacuous."""
    torch.manual_seed(seed)
    network = create_network(config)
    with torch.no_grad():
        for parameter in network.parameters():
            if not parameter.any():
                parameter.normal_(0.0, 0.05)
    return network.eval()


def random_checkpoint(path: Path, config: ModelConfig, seed: int = 0) -> Path:
    """:func:`random_network`'s weights saved with ``config``, loadable as a worker loads weights."""
    return save_checkpoint(path, random_network(config, seed).state_dict(), config)


def centre_mask(resolution: int) -> np.ndarray:
    """(H, W) bool: the centre half of each side to generate."""
    mask = np.zeros((resolution, resolution), bool)
    quarter = resolution // 4
    mask[quarter:-quarter, quarter:-quarter] = True
    return mask


def random_images(count: int, resolution: int, seed: int = 0) -> list[np.ndarray]:
    """(H, W, 3) uint8 noise images: speed does not depend on content."""
    rng = np.random.default_rng(seed)
    return [rng.integers(0, 256, (resolution, resolution, 3), dtype=np.uint8) for _ in range(count)]


def conditionings(batch: int, resolution: int) -> list[Conditioning]:
    """Random sources with the centre of each image to generate."""
    mask = centre_mask(resolution)
    return [Conditioning(image, mask) for image in random_images(batch, resolution)]


def naive_samples(
    network: ConditionalNetwork,
    config: ModelConfig,
    source: Tensor,
    mask: Tensor,
    seeds: list[int],
    settings: SamplerSettings,
) -> Tensor:
    """What the pipeline computed before the fast path: the reference samplers of :mod:`model.sampling`
    over the eager fp32 network, the whole batch at once."""
    noise = PerExampleNoise(seeds, source.device)
    with torch.inference_mode():
        return sample_network(settings, network, config.diffusion, source, mask, noise)


class NaiveSampler:
    """:func:`naive_samples` behind :meth:`model.pipeline.PalettePipeline.sample`'s call."""

    def __init__(self, checkpoint: Path, device: torch.device) -> None:
        loaded = read_checkpoint(checkpoint)
        self.network = build_network(loaded, device)
        self.config = loaded.config
        self.device = device

    def sample(
        self, conditions: list[Conditioning], seeds: list[int], settings: SamplerSettings
    ) -> np.ndarray:
        diffusion = self.config.diffusion
        source = images_to_tensor([network_source(c, diffusion) for c in conditions], self.device)
        mask = masks_to_tensor([c.mask for c in conditions], self.device)
        return tensor_to_images(naive_samples(self.network, self.config, source, mask, seeds, settings))


def synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def timed(run: Callable[[], np.ndarray], device: torch.device) -> tuple[float, np.ndarray]:
    """Seconds ``run`` takes between device synchronisations, and what it returned."""
    synchronize(device)
    started = time.perf_counter()
    out = run()
    synchronize(device)
    return time.perf_counter() - started, out


def forward_flops(config: UNetConfig) -> int:
    """FLOPs of one batch-1 forward (2 per multiply-add), counted on shapes alone on the meta device."""
    with torch.device("meta"):
        network = PaletteUNet(config).eval()
        image = torch.zeros(1, 3, config.image_size, config.image_size)
        mask = torch.zeros(1, 1, config.image_size, config.image_size)
        gamma = torch.zeros(1)
    with FlopCounterMode(display=False) as counter, torch.inference_mode():
        network(image, mask, image, gamma)
    return counter.get_total_flops()


def measured_peak_flops(device: torch.device) -> tuple[float, str]:
    """The device's best matrix-product rate over fp32 and bf16 (the floor assumes the best arithmetic)."""
    size = 8192 if device.type == "cuda" else 2048
    best, best_dtype = 0.0, ""
    for dtype in (torch.float32, torch.bfloat16):
        a = torch.randn(size, size, device=device, dtype=dtype)
        b = torch.randn(size, size, device=device, dtype=dtype)
        times = []
        for _ in range(5):
            synchronize(device)
            started = time.perf_counter()
            torch.mm(a, b)
            synchronize(device)
            times.append(time.perf_counter() - started)
        rate = 2 * size**3 / min(times[1:])
        if rate > best:
            best, best_dtype = rate, str(dtype).removeprefix("torch.")
    return best, f"measured: {size}^3 {best_dtype} matmul"


def machine(device: torch.device) -> dict[str, str]:
    """What a table was measured on: the load (other processes slow every row alike), the device, versions
    and the commit (marked when the tree has uncommitted changes)."""
    commit = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], cwd=REPO, capture_output=True, text=True, check=False
    ).stdout.strip()
    dirty = subprocess.run(
        ["git", "status", "--porcelain", "--untracked-files=no"],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=False,
    ).stdout.strip()
    if device.type == "cuda":
        name = torch.cuda.get_device_name(device)
    else:
        name = f"{cpu_model()} ({os.cpu_count()} cores, {torch.get_num_threads()} threads)"
    load = ", ".join(f"{value:.1f}" for value in os.getloadavg())
    return {
        "load_average": load,
        "device": name,
        "torch": torch.__version__,
        "python": platform.python_version(),
        "commit": commit + (" (with uncommitted changes)" if dirty else ""),
    }


def cpu_model() -> str:
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        for line in cpuinfo.read_text().splitlines():
            if line.startswith("model name"):
                return line.partition(":")[2].strip()
    return platform.processor() or platform.machine()
