"""Sampling at the upload's resolution (issue 13): tiles, their blending, partial starts, and every task's
answer at full size with its known pixels exact. The tiny random model; the seams on real weights are in
test_fullres_seams.py."""

from __future__ import annotations

import dataclasses
import itertools

import numpy as np
import pytest
import torch
from PIL import Image
from torch import Tensor

from model.config import ModelConfig
from model.fullres.chroma import upsample_chroma
from model.fullres.plan import Tiling, coarse_size, refine_box, uncrop_geometry
from model.fullres.run import job_plan, run_task
from model.fullres.sampler import FullResSampler, reference_sample
from model.fullres.tiling import TiledNetwork, ramp_window
from model.pipeline import PalettePipeline, RuntimeOptions
from model.sampling import SamplerKind, SamplerSettings, sampler_levels
from model.tasks import get_task
from model.tasks.colorize import luminance
from model.tasks.uncrop import parse_sides
from tests.conftest import EDM_RESIDUAL, random_network, tiny_model_config

CPU = torch.device("cpu")
DDIM = SamplerSettings(SamplerKind.DDIM, steps=4)


def pipeline_for(config: ModelConfig) -> PalettePipeline:
    return PalettePipeline(random_network(config), config, CPU, options=RuntimeOptions(max_batch=4))


@pytest.fixture(scope="module")
def tiny() -> PalettePipeline:
    return pipeline_for(tiny_model_config())


def photo_of(photo: np.ndarray, width: int, height: int) -> Image.Image:
    return Image.fromarray(photo).resize((width, height), Image.Resampling.LANCZOS)


# Where the tiles go


@pytest.mark.parametrize("length", [1, 7, 37, 64, 65, 194, 1000])
def test_tiles_cover_an_axis_aligned_with_at_least_the_overlap_between_neighbours(length: int) -> None:
    tiling = Tiling(tile=64, overlap=16, align=8)
    starts, side, padded = tiling.starts(length), tiling.tile_length(length), tiling.padded(length)
    assert padded % 8 == 0 and padded - length < 8
    assert starts[0] == 0 and starts[-1] + side == padded
    assert all(start % 8 == 0 for start in starts)
    assert all(side - (b - a) >= 16 for a, b in itertools.pairwise(starts))


def test_neighbouring_ramps_sum_to_one_across_their_overlap() -> None:
    left, right = ramp_window(64, 0, 16), ramp_window(64, 16, 0)
    assert torch.allclose(left[48:] + right[:16], torch.ones(16))
    assert (left[:48] == 1).all() and (right[16:] == 1).all()


def test_the_coarse_pass_keeps_the_aspect_ratio_at_the_model_resolution() -> None:
    assert coarse_size(512, 384, 64, 8) == (64, 48)
    assert coarse_size(1000, 37, 64, 8) == (64, 8)
    assert coarse_size(60, 40, 64, 8) is None  # no larger than the model: sampled at its own size


def test_the_refinement_covers_the_hole_with_a_margin_and_at_least_a_tile() -> None:
    mask = np.zeros((300, 400), dtype=bool)
    mask[100:110, 200:230] = True
    box = refine_box(mask, margin=16, minimum=64)
    assert (box.top, box.bottom) == (73, 137) and box.height == 64
    assert (box.left, box.right) == (183, 247)  # 30 + 2 x 16 = 62 columns, widened to a tile
    assert mask[box.slices].sum() == mask.sum()


def test_uncropping_left_and_right_doubles_the_width_with_the_upload_centred() -> None:
    geometry = uncrop_geometry(194, 128, ("left", "right"))
    assert (geometry.width, geometry.height) == (388, 128)
    assert geometry.known is not None and (geometry.known.left, geometry.known.right) == (97, 291)
    assert geometry.generate is not None and not geometry.generate[:, 97:291].any()


# The tiled network


class Pointwise(torch.nn.Module):
    """A network whose output at a pixel depends on that pixel only: any tiling must reproduce it."""

    def forward(self, source: Tensor, mask: Tensor, y_t: Tensor, gamma: Tensor) -> Tensor:
        return torch.tanh(source * 0.5 + y_t * mask) * gamma[:, None, None, None]


@pytest.mark.parametrize(("height", "width"), [(128, 194), (37, 1000), (5, 3), (64, 64)])
def test_blended_tiles_of_a_pointwise_network_equal_the_network_on_the_whole_image(
    height: int, width: int
) -> None:
    generator = torch.Generator().manual_seed(0)
    source, y_t = (torch.randn(2, 3, height, width, generator=generator) for _ in range(2))
    mask = torch.ones(2, 1, height, width)
    gamma = torch.tensor([0.3, 0.7])
    tiled = TiledNetwork(Pointwise(), Tiling(tile=32, overlap=8, align=4), max_tiles=3)
    assert torch.allclose(tiled(source, mask, y_t, gamma), Pointwise()(source, mask, y_t, gamma), atol=1e-6)


def test_tiles_are_evaluated_in_batches_of_at_most_max_tiles_and_counted() -> None:
    sizes: list[int] = []

    def network(source: Tensor, mask: Tensor, y_t: Tensor, gamma: Tensor) -> Tensor:
        sizes.append(y_t.shape[0])
        return y_t

    counted: list[int] = []
    tiling = Tiling(tile=32, overlap=8, align=4)
    tiled = TiledNetwork(network, tiling, max_tiles=5, on_tiles=counted.append)
    image, mask = torch.zeros(2, 3, 70, 90), torch.ones(2, 1, 70, 90)
    tiled(image, mask, image, torch.ones(2))
    assert max(sizes) == 5 and sum(sizes) == 2 * tiling.count(70, 90) == sum(counted)


class LocalMean:
    """A network whose output at a pixel depends on its tile's neighbourhood (a 5x5 mean), not on the mask:
    tiles and their blending change its output, skipping tiles must not."""

    def __call__(self, source: Tensor, mask: Tensor, y_t: Tensor, gamma: Tensor) -> Tensor:
        mean = torch.nn.functional.avg_pool2d(y_t + source, 5, stride=1, padding=2)
        return mean * gamma[:, None, None, None]


def test_tiles_of_known_pixels_only_are_skipped_and_no_pixel_to_generate_changes() -> None:
    """A frame to generate around a known centre (uncropping every side): the centre's tiles never run,
    the plan counts exactly the tiles that do, and every pixel to generate is what running all tiles gives."""
    tiling = Tiling(tile=32, overlap=8, align=4)
    height, width = 120, 150
    generate = np.ones((height, width), dtype=bool)
    generate[30:90, 35:115] = False
    generator = torch.Generator().manual_seed(0)
    source, y_t = (torch.randn(2, 3, height, width, generator=generator) for _ in range(2))
    gamma = torch.tensor([0.3, 0.7])
    counted: list[int] = []
    skipping = TiledNetwork(LocalMean(), tiling, max_tiles=4, on_tiles=counted.append)
    mask = torch.from_numpy(generate).float()[None, None].expand(2, 1, -1, -1)
    output = skipping(source, mask, y_t, gamma)
    every_tile = TiledNetwork(LocalMean(), tiling, max_tiles=4)(source, torch.ones_like(mask), y_t, gamma)
    assert sum(counted) == 2 * tiling.count_generating(generate) < 2 * tiling.count(height, width)
    pixels = torch.from_numpy(generate)[None, None].expand_as(output)
    assert torch.equal(output[pixels], every_tile[pixels])


def test_a_batch_with_nothing_to_generate_runs_no_tile() -> None:
    counted: list[int] = []
    tiled = TiledNetwork(LocalMean(), Tiling(tile=32, overlap=8, align=4), on_tiles=counted.append)
    image = torch.ones(1, 3, 70, 90)
    output = tiled(image, torch.zeros(1, 1, 70, 90), image, torch.ones(1))
    assert counted == [] and output.shape == image.shape


# Samplers at any size


@pytest.mark.parametrize(
    "config",
    [tiny_model_config(), dataclasses.replace(tiny_model_config(), diffusion=EDM_RESIDUAL)],
    ids=["image", "edm-residual"],
)
def test_the_fast_path_on_tiles_equals_the_reference_samplers_on_the_same_tiles(config: ModelConfig) -> None:
    pipeline = pipeline_for(config)
    rng = np.random.default_rng(0)
    source = rng.integers(0, 256, (50, 70, 3), dtype=np.uint8)
    mask = np.zeros((50, 70), dtype=bool)
    mask[10:40, 20:60] = True
    init = rng.integers(0, 256, (50, 70, 3), dtype=np.uint8)
    sampler = FullResSampler(pipeline, Tiling(tile=32, overlap=8, align=2), max_tiles=3)
    for start, start_from in ((1.0, None), (0.5, init)):
        fast = sampler.sample(source, mask, [1, 2], DDIM, start=start, init=start_from)
        reference = reference_sample(
            pipeline.network, config, source, mask, [1, 2], DDIM, sampler.tiling, start=start, init=start_from
        )
        assert np.abs(fast.astype(int) - reference.astype(int)).max() <= 1
        assert (fast[:, ~mask] == source[~mask]).all()


def test_a_partial_start_runs_every_step_within_the_last_part_of_the_schedule(tiny: PalettePipeline) -> None:
    calls: list[float] = []
    sampler = FullResSampler(tiny, Tiling(tile=32, overlap=8, align=2))
    runner = sampler.runner

    def recording(source: Tensor, mask: Tensor, y_t: Tensor, gamma: Tensor) -> Tensor:
        calls.append(float(gamma[0]))
        return runner(source, mask, y_t, gamma)

    sampler.runner = recording
    image = np.full((32, 32, 3), 100, dtype=np.uint8)
    settings = SamplerSettings(SamplerKind.DDIM, 3)
    sampler.sample(image, np.ones((32, 32), dtype=bool), [0], settings, start=0.3, init=image)
    assert len(calls) == 3 and calls == sorted(calls)  # three steps, towards the clean end
    assert calls == pytest.approx(sampler_levels(settings, tiny.config.diffusion, 0.3)[:-1].tolist())


def test_a_sample_does_not_depend_on_how_many_tiles_share_a_network_call(tiny: PalettePipeline) -> None:
    source = np.random.default_rng(1).integers(0, 256, (40, 90, 3), dtype=np.uint8)
    mask = np.ones((40, 90), dtype=bool)
    tiling = Tiling(tile=32, overlap=8, align=2)
    one = FullResSampler(tiny, tiling, max_tiles=1).sample(source, mask, [7], DDIM)
    many = FullResSampler(tiny, tiling, max_tiles=8).sample(source, mask, [7], DDIM)
    # equal up to the float rounding of batched convolutions, which the untrained network amplifies a little
    difference = np.abs(one.astype(int) - many.astype(int))
    assert difference.max() <= 2 and (difference > 1).mean() < 1e-3


# Every task at the upload's size


@pytest.mark.parametrize(("width", "height"), [(194, 128), (1000, 37)])
def test_restoration_answers_at_the_uploads_size(
    tiny: PalettePipeline, photo: np.ndarray, width: int, height: int
) -> None:
    image = photo_of(photo, width, height)
    samples = run_task(tiny, get_task("restore"), image, None, {}, DDIM, [1, 2])
    assert [sample.size for sample in samples] == [(width, height)] * 2


@pytest.mark.parametrize(("width", "height"), [(194, 128), (1000, 37)])
def test_inpainting_answers_at_the_uploads_size_with_every_unmasked_pixel_exact(
    tiny: PalettePipeline, photo: np.ndarray, width: int, height: int
) -> None:
    image = photo_of(photo, width, height)
    hole = np.zeros((height, width), dtype=bool)
    hole[height // 4 : height // 2 + 1, width // 3 : width // 2] = True
    mask = Image.fromarray(hole.astype(np.uint8) * 255)
    (sample,) = run_task(tiny, get_task("inpaint"), image, mask, {}, DDIM, [3])
    assert sample.size == (width, height)
    assert (np.asarray(sample)[~hole] == np.asarray(image)[~hole]).all()
    assert (np.asarray(sample)[hole] != np.asarray(image)[hole]).any()


@pytest.mark.parametrize(("width", "height", "sides", "canvas"), [
    (194, 128, "left,right", (388, 128)), (1000, 37, "top", (1000, 74)), (97, 64, "all", (194, 128)),
])  # fmt: skip
def test_uncropping_answers_with_the_extended_canvas_at_the_uploads_scale_and_the_upload_exact(
    tiny: PalettePipeline, photo: np.ndarray, width: int, height: int, sides: str, canvas: tuple[int, int]
) -> None:
    image = photo_of(photo, width, height)
    (sample,) = run_task(tiny, get_task("uncrop"), image, None, {"sides": sides}, DDIM, [4])
    assert sample.size == canvas
    known = uncrop_geometry(width, height, parse_sides(sides)).known
    assert known is not None
    assert (np.asarray(sample)[known.slices] == np.asarray(image)).all()


@pytest.mark.parametrize(("width", "height"), [(194, 128), (1000, 37)])
def test_colorization_answers_at_the_uploads_size_with_its_exact_luminance(
    tiny: PalettePipeline, photo: np.ndarray, width: int, height: int
) -> None:
    image = photo_of(photo, width, height)
    (sample,) = run_task(tiny, get_task("colorize"), image, None, {}, DDIM, [5])
    assert sample.size == (width, height)
    assert (np.asarray(luminance(sample)) == np.asarray(luminance(image))).all()


def test_a_colorization_larger_than_the_model_is_coloured_whole_then_refined_on_every_tile(
    tiny: PalettePipeline, photo: np.ndarray
) -> None:
    """Which colour goes where needs the whole photo (the coarse pass, its aspect ratio kept); where it
    goes needs the details (every tile at full size, from that colour partially noised)."""
    image = photo_of(photo, 194, 128)
    task = get_task("colorize")
    plan = job_plan(tiny, task, image, None, {}, DDIM, 2)
    coarse, refine = plan.passes
    assert coarse.name == "coarse"
    assert (coarse.width, coarse.height) == coarse_size(194, 128, tiny.resolution, plan.tiling.align)
    assert (refine.name, refine.width, refine.height) == ("refine", 194, 128)
    assert refine.tiles == plan.tiling.count(128, 194)
    reports: list[tuple[int, int]] = []
    run_task(tiny, task, image, None, {}, DDIM, [1, 2], progress=lambda *r: reports.append(r))
    assert reports[-1] == (plan.cost, plan.cost)


def test_a_colorization_no_larger_than_the_model_is_one_pass_at_its_own_size(tiny: PalettePipeline) -> None:
    side = tiny.resolution
    image = Image.new("L", (side, side // 2), 90)
    plan = job_plan(tiny, get_task("colorize"), image, None, {}, DDIM, 1)
    assert [(p.name, p.width, p.height) for p in plan.passes] == [("full", side, side // 2)]


def test_chroma_upsampled_under_the_luminance_stays_on_its_side_of_an_edge() -> None:
    gray = np.full((64, 64), 40, dtype=np.uint8)
    gray[:, 32:] = 220  # a sharp vertical edge at full resolution
    small = np.zeros((8, 8, 3), dtype=np.uint8)
    small[:, :4] = (200, 30, 30)  # red on the dark side
    small[:, 4:] = (30, 30, 200)  # blue on the bright side
    guided = upsample_chroma(Image.fromarray(small), Image.fromarray(gray))
    plain = np.asarray(
        Image.fromarray(small).convert("YCbCr").resize((64, 64), Image.Resampling.BICUBIC), float
    )
    # Cr (red-difference) two pixels either side of the edge: bicubic smears it, the guided filter does not
    guided_step = guided[:, 30, 1].mean() - guided[:, 33, 1].mean()
    plain_step = plain[:, 30, 2].mean() - plain[:, 33, 2].mean()
    assert guided_step > 1.5 * plain_step


def test_chroma_speckle_at_the_models_own_size_is_smoothed_but_not_across_an_edge() -> None:
    """No enlargement (a 64 px answer from a 64 px sample): pixel-to-pixel colour noise is averaged out
    within each side of the luminance's edge, and the two sides keep their own colours."""
    gray = np.full((64, 64), 70, dtype=np.uint8)
    gray[:, 32:] = 150
    chroma = np.zeros((64, 64, 2))
    chroma[:, :32] = (115.0, 150.0)  # Cb, Cr: reddish on the dark side (all within the RGB gamut)
    chroma[:, 32:] = (145.0, 115.0)  # bluish on the bright side
    speckled = chroma + np.random.default_rng(0).normal(0.0, 12.0, chroma.shape)
    ycbcr = np.dstack([gray, speckled]).clip(0, 255).round().astype(np.uint8)
    color = Image.fromarray(ycbcr, mode="YCbCr").convert("RGB")
    smoothed = upsample_chroma(color, Image.fromarray(gray))
    dark, bright = smoothed[:, 2:29], smoothed[:, 35:62]
    input_noise = np.asarray(color.convert("YCbCr"), float)[:, 2:29, 1:].std(axis=(0, 1))
    assert (dark.std(axis=(0, 1)) < 0.5 * input_noise).all()
    assert np.abs(dark.mean(axis=(0, 1)) - (115.0, 150.0)).max() < 3.0
    assert np.abs(bright.mean(axis=(0, 1)) - (145.0, 115.0)).max() < 3.0


def test_progress_counts_tiles_times_steps_up_to_the_jobs_cost(
    tiny: PalettePipeline, photo: np.ndarray
) -> None:
    image = photo_of(photo, 150, 90)
    hole = np.zeros((90, 150), dtype=bool)
    hole[20:50, 30:100] = True
    mask = Image.fromarray(hole.astype(np.uint8) * 255)
    task = get_task("inpaint")
    plan = job_plan(tiny, task, image, mask, {}, DDIM, 2)
    reports: list[tuple[int, int]] = []
    run_task(
        tiny, task, image, mask, {}, DDIM, [1, 2], progress=lambda done, total: reports.append((done, total))
    )
    assert [p.name for p in plan.passes] == ["coarse", "refine"]
    assert reports[-1] == (plan.cost, plan.cost)
    assert [done for done, _ in reports] == sorted(done for done, _ in reports)


def test_progress_of_an_uncropping_counts_only_the_tiles_that_run(
    tiny: PalettePipeline, photo: np.ndarray
) -> None:
    """Every side of a 128x96 upload: the refinement's box is the whole 256x192 canvas, whose tiles inside
    the upload are skipped; the plan's cost is what the run reports."""
    image = photo_of(photo, 128, 96)
    task = get_task("uncrop")
    plan = job_plan(tiny, task, image, None, {"sides": "all"}, DDIM, 1)
    refine = plan.passes[-1]
    assert refine.name == "refine" and refine.tiles < plan.tiling.count(refine.height, refine.width)
    reports: list[tuple[int, int]] = []
    run_task(tiny, task, image, None, {"sides": "all"}, DDIM, [1], progress=lambda *r: reports.append(r))
    done = [report[0] for report in reports]
    assert done[-1] == plan.cost and done.count(plan.cost) == 1  # (the count is capped at the cost)
