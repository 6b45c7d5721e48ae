"""Where the tiles go and what a full-resolution job costs; plain Python and numpy, no torch, so that the
API prices a job (its estimate) with exactly the arithmetic the worker then runs.

The unit of cost is one network evaluation of one tile (at most the model's resolution) for one sample:
a *tile-step*. A job at the model's resolution costs steps x samples tile-steps, as before tiling, so the
workers' measured speed keeps its meaning.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Tiling:
    """Overlapping tiles of side ``tile`` sharing ``overlap`` pixels with their neighbours. Sizes and offsets
    are multiples of ``align`` (2^(levels - 1), the U-Net's total downsampling), so that every tile sees
    the same downsampling grid and an image is padded at most ``align - 1`` pixels per side."""

    tile: int
    overlap: int
    align: int = 1

    def __post_init__(self) -> None:
        if self.tile < 1 or self.align < 1 or self.tile % self.align:
            raise ValueError(f"tile {self.tile} must be a positive multiple of {self.align}")
        if not 0 <= self.overlap < self.tile or self.overlap % self.align:
            raise ValueError(
                f"overlap {self.overlap} must be a multiple of {self.align} and smaller than the tile"
            )

    @classmethod
    def for_model(
        cls, resolution: int, levels: int, tile: int | None = None, overlap: float = 0.25
    ) -> Tiling:
        """Tiles of ``tile`` pixels (default: the model's ``resolution``) overlapping by the fraction
        ``overlap`` of a tile, rounded to the U-Net's alignment (at least one alignment unit)."""
        align = 2 ** (levels - 1)
        side = tile or resolution
        side = max(align, side - side % align)
        shared = max(align, round(side * overlap / align) * align) if overlap > 0 else 0
        return cls(tile=side, overlap=min(shared, side - align), align=align)

    def padded(self, length: int) -> int:
        """``length`` rounded up to the alignment: the size the network runs at."""
        return math.ceil(length / self.align) * self.align

    def tile_length(self, length: int) -> int:
        """The side of the tiles along an axis of ``length`` pixels: the whole (padded) axis when it is no
        longer than a tile."""
        return min(self.tile, self.padded(length))

    def starts(self, length: int) -> tuple[int, ...]:
        """Offsets of the tiles along an axis of ``length`` pixels (of its padded length), spread evenly so
        that neighbours overlap by at least ``overlap``; the first at 0, the last flush with the end."""
        padded, side = self.padded(length), self.tile_length(length)
        if padded <= side:
            return (0,)
        stride = side - self.overlap
        count = math.ceil((padded - side) / stride) + 1
        units = (padded - side) // self.align
        return tuple((index * units // (count - 1)) * self.align for index in range(count))

    def count(self, height: int, width: int) -> int:
        """Tiles covering a ``height`` x ``width`` image."""
        return len(self.starts(height)) * len(self.starts(width))

    def generating_tiles(self, generate: np.ndarray) -> list[tuple[int, int]]:
        """(row, column) indices of the tiles of an image that hold a pixel to generate (``generate``: (H, W)
        bool, True = generate), in row-major order: the ones :class:`model.fullres.tiling.TiledNetwork`
        runs. A tile of known pixels only is skipped: the sampler puts known pixels back after every step, so
        its output could only ever reach them."""
        height, width = generate.shape
        side_h, side_w = self.tile_length(height), self.tile_length(width)
        return [
            (i, j)
            for i, top in enumerate(self.starts(height))
            for j, left in enumerate(self.starts(width))
            if generate[top : top + side_h, left : left + side_w].any()
        ]

    def count_generating(self, generate: np.ndarray) -> int:
        """How many tiles :meth:`generating_tiles` finds: what a pass over ``generate`` costs per step."""
        return len(self.generating_tiles(generate))


@dataclass(frozen=True)
class Box:
    """A rectangle of an image, in pixels: rows [top, bottom), columns [left, right)."""

    top: int
    left: int
    bottom: int
    right: int

    @property
    def height(self) -> int:
        return self.bottom - self.top

    @property
    def width(self) -> int:
        return self.right - self.left

    @property
    def slices(self) -> tuple[slice, slice]:
        return slice(self.top, self.bottom), slice(self.left, self.right)


def _grow(start: int, stop: int, minimum: int, limit: int) -> tuple[int, int]:
    """[start, stop) widened about its centre to at least ``minimum`` pixels, within [0, limit)."""
    missing = minimum - (stop - start)
    if missing > 0:
        start -= missing // 2
        stop += missing - missing // 2
        if start < 0:
            stop, start = stop - start, 0
        if stop > limit:
            start, stop = max(0, start - (stop - limit)), limit
    return max(0, start), min(limit, stop)


def refine_box(mask: np.ndarray, margin: int, minimum: int) -> Box:
    """The region a full-resolution refinement of ``mask`` (H, W bool, True = generate) samples: the mask's
    bounding box plus ``margin`` pixels of context on every side, at least ``minimum`` pixels along each
    axis where the image allows (a tile sees real context rather than padding), within the image."""
    rows, cols = np.nonzero(mask.any(axis=1))[0], np.nonzero(mask.any(axis=0))[0]
    if rows.size == 0:
        raise ValueError("the mask is empty")
    height, width = mask.shape
    top, bottom = _grow(int(rows[0]) - margin, int(rows[-1]) + 1 + margin, minimum, height)
    left, right = _grow(int(cols[0]) - margin, int(cols[-1]) + 1 + margin, minimum, width)
    return Box(top=top, left=left, bottom=bottom, right=right)


def coarse_size(width: int, height: int, resolution: int, align: int) -> tuple[int, int] | None:
    """(width, height) of the coarse pass of an inpainting or uncropping: the image scaled so its longer
    side is the model's ``resolution`` (its aspect ratio kept, each side a multiple of ``align``), or None
    when the image is no larger than that, and is sampled at its own size directly."""
    if max(width, height) <= resolution:
        return None
    scale = resolution / max(width, height)

    def side(length: int) -> int:
        return max(align, round(length * scale / align) * align)

    return side(width), side(height)


@dataclass(frozen=True)
class Pass:
    """One sampling pass of a job: a ``height`` x ``width`` region, ``steps`` network evaluations of its
    ``tiles`` tiles (those holding a pixel to generate, :meth:`Tiling.count_generating`)."""

    name: str  # "full", "coarse", "refine"
    height: int
    width: int
    steps: int
    tiles: int

    @property
    def cost(self) -> int:
        """Tile-steps for one sample."""
        return self.steps * self.tiles


@dataclass(frozen=True)
class JobPlan:
    passes: tuple[Pass, ...]
    samples: int
    tiling: Tiling

    @property
    def cost(self) -> int:
        """Tile-steps of the whole job: samples x the passes' steps x tiles."""
        return self.samples * sum(p.cost for p in self.passes)


@dataclass(frozen=True)
class Geometry:
    """A task's output at full resolution: its size and which of its pixels are generated (None: all of
    them, as in restoration and colorization), and for uncropping where the upload sits on the canvas."""

    width: int
    height: int
    generate: np.ndarray | None = None  # (height, width) bool, True = generate
    known: Box | None = None


def _known_span(length: int, extend_start: bool, extend_end: bool) -> tuple[int, int]:
    """Where an axis of ``length`` pixels sits on its canvas (twice as long when extended): centred when
    both ends are extended, against the far end when only the start is (Palette's 50% masks)."""
    if extend_start and extend_end:
        return length // 2, length // 2 + length
    if extend_start:
        return length, 2 * length
    return 0, length


def uncrop_geometry(width: int, height: int, sides: tuple[str, ...]) -> Geometry:
    """The canvas of an uncropping at the upload's scale: each extended axis doubles."""
    left, right = _known_span(width, "left" in sides, "right" in sides)
    top, bottom = _known_span(height, "top" in sides, "bottom" in sides)
    canvas_width = 2 * width if ("left" in sides or "right" in sides) else width
    canvas_height = 2 * height if ("top" in sides or "bottom" in sides) else height
    generate = np.ones((canvas_height, canvas_width), dtype=bool)
    generate[top:bottom, left:right] = False
    return Geometry(canvas_width, canvas_height, generate, Box(top, left, bottom, right))


def plan_job(
    task: str,
    geometry: Geometry,
    steps: int,
    samples: int,
    tiling: Tiling,
    resolution: int,
) -> JobPlan:
    """The passes a job runs (see :mod:`model.fullres.run`):

    - a task that generates some pixels (inpaint, uncrop) or all of them from their context (colorize): a
      coarse pass on the whole canvas scaled to the model's resolution, then a refinement at full resolution
      of the generated region's bounding box plus a margin (colorization: the whole image), from the coarse
      sample partially noised (the task's ``refine_start``); an image no larger than the model's resolution
      is sampled at its own size in one pass;
    - every other task (restore): one pass at full resolution, from the input partially noised.

    Every pass runs all ``steps`` of the sampler: a partial start respaces them below its first level.
    """
    passes: tuple[Pass, ...]
    generate = whole_canvas(geometry) if task == "colorize" else geometry.generate
    if generate is None:
        every_tile = tiling.count(geometry.height, geometry.width)
        passes = (Pass("full", geometry.height, geometry.width, steps, every_tile),)
    else:
        coarse = coarse_size(geometry.width, geometry.height, resolution, tiling.align)
        if coarse is None:
            tiles = tiling.count_generating(generate)
            passes = (Pass("full", geometry.height, geometry.width, steps, tiles),)
        else:
            box = refine_box(generate, margin=refine_margin(tiling), minimum=tiling.tile)
            # The coarse canvas is one tile (its longer side is the model's resolution): never skipped.
            coarse_tiles = tiling.count(coarse[1], coarse[0])
            refine_tiles = tiling.count_generating(generate[box.slices])
            passes = (
                Pass("coarse", coarse[1], coarse[0], steps, coarse_tiles),
                Pass("refine", box.height, box.width, steps, refine_tiles),
            )
    return JobPlan(passes=passes, samples=samples, tiling=tiling)


def whole_canvas(geometry: Geometry) -> np.ndarray:
    """Every pixel of ``geometry``'s canvas to generate: colorization's, which needs the whole photo's
    context (a coarse pass) where restoration's artefacts need only a tile's."""
    return np.ones((geometry.height, geometry.width), dtype=bool)


def refine_margin(tiling: Tiling) -> int:
    """Known pixels around a hole that its refinement sees: a quarter tile."""
    return tiling.tile // 4
