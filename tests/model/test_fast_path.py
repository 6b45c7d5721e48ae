"""The optimized sampling path (model.runtime) against the reference samplers, on a tiny CPU model.

CUDA graphs cannot run here; everything around them (static buffers, padded buckets, the fused step, the
compiled step's tracing) is the same code on the CPU and is tested as such.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np
import pytest
import torch
from torch import Tensor
from torch.utils._python_dispatch import TorchDispatchMode

from benchmarks.common import naive_samples
from model.config import ModelConfig
from model.imaging import tensor_to_images
from model.nn import PaletteUNet
from model.runtime import CompileMode, Precision, RuntimeOptions
from model.runtime.engine import FastSampler, plan_chunks
from model.runtime.memory import fitting_batch, predicted_bytes_per_image, predicted_step_bytes
from model.runtime.options import powers_of_two
from model.runtime.progress import StepClock
from model.runtime.step import (
    RECOMPILE_LIMIT,
    StaticStep,
    compile_step,
    draw_rows,
    fused_step,
    step_table,
)
from model.sampling import PerExampleNoise, SamplerKind, SamplerSettings
from tests.conftest import EDM_RESIDUAL, random_network, tiny_model_config

CPU = torch.device("cpu")
SETTINGS = [
    SamplerSettings(SamplerKind.DDPM, steps=12),
    SamplerSettings(SamplerKind.DDIM, steps=6),
    SamplerSettings(SamplerKind.DDIM, steps=6, eta=0.5),
    SamplerSettings(SamplerKind.DPMPP_2M, steps=6),
]
SETTING_IDS = [f"{s.kind.value}-{s.steps}-eta{s.eta}" for s in SETTINGS]


@pytest.fixture(scope="module")
def config() -> ModelConfig:
    return tiny_model_config()


@pytest.fixture(scope="module")
def network(config: ModelConfig) -> PaletteUNet:
    return random_network(config)


def conditioning(batch: int, seed: int = 0, resolution: int = 32) -> tuple[Tensor, Tensor]:
    generator = torch.Generator().manual_seed(seed)
    source = torch.rand(batch, 3, resolution, resolution, generator=generator) * 2 - 1
    mask = torch.zeros(batch, 1, resolution, resolution)
    mask[:, :, 4:28, 6:30] = 1.0
    return source, mask


def assert_same_image(actual: Tensor, expected: Tensor) -> None:
    """Equal as 8-bit images up to float32 rounding. Kernels pick different summation orders for other
    batch sizes and memory layouts (oneDNN on AVX-512 does), and the noisiest sampling steps amplify those
    last-bit differences, so a rare value may land on the other side of a rounding boundary: at most one
    level, on under 0.1% of the values, and a mean difference far below one level."""
    difference = (actual - expected).abs()
    assert difference.mean().item() < 1e-5
    as_images = [tensor_to_images(x.reshape(-1, *x.shape[-3:])).astype(int) for x in (actual, expected)]
    levels = np.abs(as_images[0] - as_images[1])
    assert levels.max() <= 1
    assert (levels > 0).mean() < 1e-3


def reference(
    network: PaletteUNet, config: ModelConfig, settings: SamplerSettings, seeds: list[int]
) -> Tensor:
    """The benchmarks' naive column: the reference sampler over the fp32 network."""
    source, mask = conditioning(len(seeds))
    return naive_samples(network, config, source, mask, seeds, settings)


def fast(
    network: PaletteUNet,
    config: ModelConfig,
    settings: SamplerSettings,
    seeds: list[int],
    options: RuntimeOptions,
    *,
    source_seed: int = 0,
) -> Tensor:
    source, mask = conditioning(len(seeds), source_seed)
    sampler = FastSampler(network, config, CPU, options)
    return sampler.sample(source, mask, PerExampleNoise(seeds, CPU), settings)


@pytest.mark.parametrize("settings", SETTINGS, ids=SETTING_IDS)
def test_fp32_fast_path_is_the_reference_sampler(
    network: PaletteUNet, config: ModelConfig, settings: SamplerSettings
) -> None:
    # Same noise, same network call, and the same coefficients (one float64 definition, tabulated in
    # float32) through the same y_0 estimate and update: the same numbers.
    expected = reference(network, config, settings, [3, 4])
    actual = fast(network, config, settings, [3, 4], RuntimeOptions())
    assert torch.equal(actual, expected)


@pytest.mark.parametrize("settings", SETTINGS, ids=SETTING_IDS)
def test_bf16_fast_path_matches_fp32_within_bf16_tolerance(
    network: PaletteUNet, config: ModelConfig, settings: SamplerSettings
) -> None:
    """bf16 keeps 8 significant bits (relative rounding 2^-9), so each network output differs by ~0.5%;
    clamping the y_0 prediction at the noisiest levels, where it is scaled by up to 1e10, turns a few of
    those differences into sign flips, so the bound is on the mean and on nearly all pixels, not the max."""
    expected = reference(network, config, settings, [3, 4])
    actual = fast(network, config, settings, [3, 4], RuntimeOptions(precision=Precision.BF16))
    difference = (actual - expected).abs()
    assert difference.mean().item() < 5e-3  # 0.6 uint8 levels
    assert (difference > 0.1).float().mean().item() < 0.01  # under 1% of pixels off by > 13 levels


def test_bf16_network_output_is_within_bf16_rounding(network: PaletteUNet) -> None:
    source, mask = conditioning(2)
    y, gamma = torch.randn(2, 3, 32, 32, generator=torch.Generator().manual_seed(1)), torch.tensor([0.3, 0.9])
    with torch.inference_mode():
        exact = network(source, mask, y, gamma)
        with torch.autocast("cpu", dtype=torch.bfloat16):
            rounded = network(source, mask, y, gamma).float()
    # bf16 rounds each operation's result to 2^-9 relative; through ~20 layers that grows to a few 2^-7.
    assert ((rounded - exact).norm() / exact.norm()).item() < 2**-5


def test_channels_last_changes_nothing_but_the_layout(network: PaletteUNet, config: ModelConfig) -> None:
    settings = SETTINGS[1]
    expected = fast(network, config, settings, [5, 6], RuntimeOptions())
    relaid = random_network(config)  # to_channels_last re-lays the network out in place
    actual = fast(relaid, config, settings, [5, 6], RuntimeOptions(channels_last=True))
    assert_same_image(actual, expected)


def test_the_step_compiles_as_one_graph_and_computes_the_same(
    network: PaletteUNet, config: ModelConfig
) -> None:
    # fullgraph=True makes any graph break an error; the "eager" backend checks the tracing quickly,
    # without Inductor's code generation (which the benchmark exercises).
    step = fused_step(network, CPU, Precision.FP32, channels_last=False)
    compiled = compile_step(step, CompileMode.DEFAULT, backend="eager")
    source, mask = conditioning(2)
    table = step_table(SETTINGS[0], config.diffusion)
    y, d_prev, z = torch.randn(3, 2, 3, 32, 32, generator=torch.Generator().manual_seed(2)).unbind(0)
    with torch.inference_mode():
        for actual, expected in zip(
            compiled(y, d_prev, z, table.rows[3], source, mask),
            step(y, d_prev, z, table.rows[3], source, mask),
            strict=True,
        ):
            torch.testing.assert_close(actual, expected)


def test_compiling_raises_dynamos_recompile_limit_once(network: PaletteUNet) -> None:
    # Every pipeline's step shares one code object; the limit is raised to hold them all, and compiling
    # another step leaves the global configuration as the first compilation left it.
    step = fused_step(network, CPU, Precision.FP32, channels_last=False)
    compile_step(step, CompileMode.DEFAULT, backend="eager")
    limit = torch._dynamo.config.recompile_limit
    compile_step(step, CompileMode.DEFAULT, backend="eager")
    assert torch._dynamo.config.recompile_limit == limit >= RECOMPILE_LIMIT


def test_padding_rows_never_change_the_real_rows(network: PaletteUNet, config: ModelConfig) -> None:
    step = fused_step(network, CPU, Precision.FP32, channels_last=False)
    table = step_table(SamplerSettings(SamplerKind.DDPM, steps=5), config.diffusion)
    source, mask = conditioning(2)
    outputs = []
    for garbage in (0.0, 1e4):
        static = StaticStep(step, 4, config.unet, CPU, None)
        generators = PerExampleNoise([1, 2], CPU).generators
        with torch.inference_mode():
            static.load(source, mask, generators)
            for buffer in (static.source, static.mask, static.y, static.d_prev, static.z):
                buffer[2:] = garbage
            for index in range(table.steps):
                if table.noisy[index]:
                    static.draw_noise(generators)
                static.step(table.rows[index])
        outputs.append(static.result(2))
    assert torch.equal(outputs[0], outputs[1])


def test_a_seed_gives_the_same_image_whatever_the_batch_and_its_bucket(
    network: PaletteUNet, config: ModelConfig
) -> None:
    options = RuntimeOptions(buckets=(1, 2, 4), max_batch=4)
    settings = SamplerSettings(SamplerKind.DDPM, steps=8)
    source, mask = conditioning(6, seed=7)
    sampler = FastSampler(network, config, CPU, options)

    def sample(rows: list[int], seeds: list[int]) -> Tensor:
        return sampler.sample(source[rows], mask[rows], PerExampleNoise(seeds, CPU), settings)

    alone = sample([0], [42])[0]  # bucket 1
    in_three = sample([3, 0, 5], [1, 42, 2])[1]  # bucket 4 with a padding row
    in_six = sample([1, 2, 3, 4, 5, 0], [1, 2, 3, 4, 5, 42])[5]  # a chunk of 4, then one of 2
    assert_same_image(in_three, alone)
    assert_same_image(in_six, alone)


class HostReads(TorchDispatchMode):
    """Counts reads of a tensor's value by the host (.item(), bool(), float() of a tensor): on CUDA each
    one waits for the device to finish everything queued before it."""

    def __init__(self) -> None:
        super().__init__()
        self.count = 0

    def __torch_dispatch__(
        self, func: Any, types: Any, args: tuple[Any, ...] = (), kwargs: dict[str, Any] | None = None
    ) -> Any:
        if func is torch.ops.aten._local_scalar_dense.default:
            self.count += 1
        return func(*args, **(kwargs or {}))


@pytest.mark.parametrize("kind", list(SamplerKind))
def test_the_step_loop_never_reads_a_device_value(
    network: PaletteUNet, config: ModelConfig, kind: SamplerKind
) -> None:
    # Host reads happen while the table is built, never per step: their number does not grow with steps.
    source, mask = conditioning(2)
    sampler = FastSampler(network, config, CPU, RuntimeOptions(buckets=(1, 2, 4), max_batch=4))
    counts = []
    for steps in (2, 6):
        with HostReads() as reads:
            sampler.sample(
                source, mask, PerExampleNoise([1, 2], CPU), SamplerSettings(kind, steps), lambda s, t: None
            )
        counts.append(reads.count)
    assert counts[0] == counts[1]


def test_chunked_batches_equal_one_batch(network: PaletteUNet, config: ModelConfig) -> None:
    settings = SETTINGS[3]
    whole = fast(network, config, settings, [1, 2, 3, 4, 5], RuntimeOptions(max_batch=5))
    chunked = fast(network, config, settings, [1, 2, 3, 4, 5], RuntimeOptions(max_batch=2))
    assert_same_image(whole, chunked)


def test_chunks_run_at_the_smallest_bucket_that_holds_them() -> None:
    assert powers_of_two(100) == (1, 2, 4, 8, 16, 32, 64)
    plan = plan_chunks(70, powers_of_two(64), 64)
    assert [(c.start, c.stop, c.bucket) for c in plan] == [(0, 64, 64), (64, 70, 8)]
    assert [c.bucket for c in plan_chunks(3, (), 8)] == [3]


def test_progress_counts_the_sampler_steps_whatever_the_chunking(
    network: PaletteUNet, config: ModelConfig
) -> None:
    calls: list[tuple[int, int]] = []
    source, mask = conditioning(3)
    sampler = FastSampler(network, config, CPU, RuntimeOptions(max_batch=2))  # two chunks of 6 steps
    sampler.sample(
        source, mask, PerExampleNoise([1, 2, 3], CPU), SETTINGS[1], lambda s, t: calls.append((s, t))
    )
    assert calls == [(step, 6) for step in range(1, 7)]
    clock = StepClock(4, 3, lambda s, t: calls.append((s, t)), CPU)
    calls.clear()
    for done in range(1, 13):
        clock.enqueued(done)
    clock.finish()
    assert calls == [(step, 4) for step in range(1, 5)]


def test_the_table_adds_noise_exactly_where_the_reference_samplers_draw_it(config: ModelConfig) -> None:
    ddpm = step_table(SamplerSettings(SamplerKind.DDPM, steps=10), config.diffusion)
    assert ddpm.noisy == (True,) * 9 + (False,)
    assert not any(step_table(SamplerSettings(SamplerKind.DDIM, steps=10), config.diffusion).noisy)
    assert not any(step_table(SamplerSettings(SamplerKind.DPMPP_2M, steps=10), config.diffusion).noisy)
    assert torch.isfinite(ddpm.rows).all()


def test_rows_are_drawn_as_per_example_noise_draws_them() -> None:
    out = torch.zeros(3, 3, 8, 8)
    draw_rows(out, PerExampleNoise([7, 8], CPU).generators)
    expected = PerExampleNoise([7, 8], CPU)(torch.empty(2, 3, 8, 8))
    assert torch.equal(out[:2], expected)
    assert not out[2].any()


def test_predicted_memory_grows_linearly_with_the_batch(config: ModelConfig) -> None:
    one, eight = predicted_step_bytes(config.unet, 1), predicted_step_bytes(config.unet, 8)
    per_image = predicted_bytes_per_image(config.unet)
    assert eight - one == 7 * per_image
    # At least the skip connections are alive at once: 32x32 maps of 16 channels, in float32.
    assert per_image > 3 * 16 * 32 * 32 * 4


def test_the_batch_size_is_the_largest_bucket_that_fits() -> None:
    buckets = (1, 2, 4, 8, 16)
    assert fitting_batch(free_bytes=1000, bytes_per_image=100, sizes=buckets) == 8  # 80% of 1000 holds 8
    assert fitting_batch(free_bytes=100_000, bytes_per_image=100, sizes=buckets) == 16
    assert fitting_batch(free_bytes=10, bytes_per_image=100, sizes=buckets) == 1


def test_max_batch_size_on_the_cpu_is_a_positive_size_within_the_options(
    network: PaletteUNet, config: ModelConfig
) -> None:
    size = FastSampler(network, config, CPU, RuntimeOptions(max_batch=6)).max_batch_size()
    assert 1 <= size <= 6


def test_options_refuse_what_the_device_or_the_buckets_cannot_do() -> None:
    with pytest.raises(ValueError, match="CUDA graphs need a CUDA device"):
        RuntimeOptions(cuda_graphs=True, buckets=(1, 2), max_batch=2).check_device(CPU)
    with pytest.raises(ValueError, match="need batch-size buckets"):
        RuntimeOptions(cuda_graphs=True)
    with pytest.raises(ValueError, match="larger than the largest bucket"):
        RuntimeOptions(buckets=(1, 2), max_batch=4)
    with pytest.raises(ValueError, match="fp16"):
        RuntimeOptions(precision=Precision.FP16).check_device(CPU)
    cuda = RuntimeOptions.for_device(torch.device("cuda"))
    assert cuda.cuda_graphs and cuda.channels_last and cuda.precision is Precision.BF16
    assert cuda.compile is CompileMode.DEFAULT and cuda.max_batch == cuda.buckets[-1]
    assert dataclasses.replace(cuda, cuda_graphs=False).buckets == cuda.buckets


@pytest.mark.parametrize("settings", SETTINGS, ids=SETTING_IDS)
def test_fast_path_samples_a_residual_edm_model_as_the_reference_samplers_do(
    settings: SamplerSettings,
) -> None:
    """The fused step keeps a residual's known pixels at zero and clips the image it stands for, exactly
    as :func:`model.sampling.sample_network` does."""
    config = ModelConfig(unet=tiny_model_config().unet, diffusion=EDM_RESIDUAL)
    network = random_network(config)
    expected = reference(network, config, settings, [3, 4])
    actual = fast(network, config, settings, [3, 4], RuntimeOptions())
    assert torch.equal(actual, expected)
