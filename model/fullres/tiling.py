"""The network at any image size: overlapping tiles, their outputs blended.

:class:`TiledNetwork` has the network's own call, ``(source, mask, y_t, gamma) -> output``, and accepts any
height and width. It pads the inputs to the U-Net's alignment (reflecting the image, a few pixels at most),
cuts them into tiles of the model's resolution (:class:`model.fullres.plan.Tiling`), runs the tiles of all
examples in batches of at most ``max_tiles`` and blends the tiles' *outputs* with windows that ramp as
sin^2 across each overlap (neighbours' ramps sum to one) and are flat elsewhere, normalised by the total
weight.

Why outputs: every sampler's y_0 estimate is linear in the output at a pixel, d = k_y y_t + k_o output
(:mod:`model.runtime.step`; EDM's preconditioning adds the same c_skip y_t to every tile), so
blending outputs is blending the estimates: at every step all tiles agree on one estimate per pixel, the
update and the noise are per pixel, and there is no boundary left in the state for a seam to form at.

Why tiles rather than the whole image: the U-Net's global self-attention was trained on a fixed number
of tokens; at a tile it sees exactly that. Measured on the bundled weights (benchmarks/RESULTS.md), whole
larger images cost more per pixel (the attention is quadratic) and tiles of twice the model's resolution
scored no better than the model's own. Memory follows ``max_tiles``, never the photo.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import Tensor

from model.fullres.plan import Tiling
from model.runtime.step import laid_out

Network = Callable[[Tensor, Tensor, Tensor, Tensor], Tensor]
TileCounter = Callable[[int], None]  # called with the number of tiles each network call evaluated


def ramp_window(length: int, before: int, after: int) -> Tensor:
    """Weights (length,) float32: sin^2 from ~0 to 1 over the first ``before`` pixels and back over the last
    ``after``, 1 between. Over an overlap the ramp of one tile and the mirrored ramp of its neighbour sum
    to exactly one."""
    weights = torch.ones(length, dtype=torch.float64)
    for width, flip in ((before, False), (after, True)):
        if width > 0:
            ramp = torch.sin(0.5 * math.pi * (torch.arange(width, dtype=torch.float64) + 0.5) / width) ** 2
            if flip:
                weights[length - width :] *= ramp.flip(0)
            else:
                weights[:width] *= ramp
    return weights.float()


def axis_windows(starts: tuple[int, ...], side: int) -> list[Tensor]:
    """The window of each tile along one axis; ramps only where a neighbour overlaps it."""
    windows = []
    for index, start in enumerate(starts):
        before = starts[index - 1] + side - start if index > 0 else 0
        after = start + side - starts[index + 1] if index + 1 < len(starts) else 0
        windows.append(ramp_window(side, max(before, 0), max(after, 0)))
    return windows


def pad_to(tensor: Tensor, height: int, width: int) -> Tensor:
    """``tensor`` (B, C, h, w) padded at the bottom and right to ``height`` x ``width``: reflected where the
    image is large enough, its edge repeated where it is not (a side of a few pixels)."""
    bottom, right = height - tensor.shape[2], width - tensor.shape[3]
    if bottom == 0 and right == 0:
        return tensor
    reflect = bottom < tensor.shape[2] and right < tensor.shape[3]
    return F.pad(tensor, (0, right, 0, bottom), mode="reflect" if reflect else "replicate")


class TiledNetwork:
    """``network`` applied to images of any size (see the module's docstring). ``on_tiles`` is told how many
    tiles each network call evaluated (for progress that counts tiles x steps)."""

    def __init__(
        self,
        network: Network,
        tiling: Tiling,
        *,
        max_tiles: int = 8,
        channels_last: bool = False,
        on_tiles: TileCounter | None = None,
    ) -> None:
        if max_tiles < 1:
            raise ValueError("max_tiles must be at least 1")
        self.network = network
        self.tiling = tiling
        self.max_tiles = max_tiles
        self.channels_last = channels_last
        self.on_tiles = on_tiles
        self._weights: dict[tuple[int, int], tuple[list[Tensor], list[Tensor], Tensor]] = {}

    def tiles(self, height: int, width: int) -> int:
        """Tiles per example at this size."""
        return self.tiling.count(height, width)

    def _run(self, source: Tensor, mask: Tensor, y_t: Tensor, gamma: Tensor) -> Tensor:
        output = self.network(
            laid_out(source, self.channels_last),
            laid_out(mask, self.channels_last),
            laid_out(y_t, self.channels_last),
            gamma,
        )
        if self.on_tiles is not None:
            self.on_tiles(y_t.shape[0])
        return output.float().contiguous()

    def _blend_weights(
        self, height: int, width: int, device: torch.device
    ) -> tuple[list[Tensor], list[Tensor], Tensor]:
        """Per-axis windows of the tiles and the reciprocal of their summed weight, per padded size."""
        key = (height, width)
        if key not in self._weights:
            rows, cols = self.tiling.starts(height), self.tiling.starts(width)
            tile_h, tile_w = self.tiling.tile_length(height), self.tiling.tile_length(width)
            padded_h, padded_w = self.tiling.padded(height), self.tiling.padded(width)
            row_windows = [w.to(device) for w in axis_windows(rows, tile_h)]
            col_windows = [w.to(device) for w in axis_windows(cols, tile_w)]
            total = torch.zeros(padded_h, padded_w, device=device)
            for top, row_window in zip(rows, row_windows, strict=True):
                for left, col_window in zip(cols, col_windows, strict=True):
                    total[top : top + tile_h, left : left + tile_w] += (
                        row_window[:, None] * col_window[None, :]
                    )
            self._weights[key] = (row_windows, col_windows, total.reciprocal())
        return self._weights[key]

    def __call__(self, source: Tensor, mask: Tensor, y_t: Tensor, gamma: Tensor) -> Tensor:
        batch, _, height, width = y_t.shape
        padded_h, padded_w = self.tiling.padded(height), self.tiling.padded(width)
        source, mask, y_t = (pad_to(t, padded_h, padded_w) for t in (source, mask, y_t))
        rows, cols = self.tiling.starts(height), self.tiling.starts(width)
        if len(rows) == 1 and len(cols) == 1:  # one tile: the whole (padded) image
            outputs = [
                self._run(source[i : i + self.max_tiles], mask[i : i + self.max_tiles],
                          y_t[i : i + self.max_tiles], gamma[i : i + self.max_tiles])
                for i in range(0, batch, self.max_tiles)
            ]  # fmt: skip
            return torch.cat(outputs)[:, :, :height, :width]
        tile_h, tile_w = self.tiling.tile_length(height), self.tiling.tile_length(width)
        row_windows, col_windows, inverse_total = self._blend_weights(height, width, y_t.device)
        # Only the tiles holding a pixel to generate (Tiling.generating_tiles): every tile covering such a
        # pixel runs, so its blended output and its normalisation are as without skipping, and the known
        # pixels the skipped tiles alone cover are put back by the sampler.
        to_generate = (mask[:, 0, :height, :width] > 0.5).cpu().numpy()
        places = [(b, i, j) for b in range(batch) for i, j in self.tiling.generating_tiles(to_generate[b])]
        if not places:  # every pixel known: whatever the output, the sampler puts them back
            return torch.zeros_like(y_t[:, :, :height, :width])
        blended: Tensor | None = None
        for first in range(0, len(places), self.max_tiles):
            chunk = places[first : first + self.max_tiles]
            source_tiles, mask_tiles, y_tiles = (
                torch.stack(
                    [t[b, :, rows[i] : rows[i] + tile_h, cols[j] : cols[j] + tile_w] for b, i, j in chunk]
                )
                for t in (source, mask, y_t)
            )
            output = self._run(source_tiles, mask_tiles, y_tiles, gamma[[b for b, _, _ in chunk]])
            if blended is None:
                blended = output.new_zeros(batch, output.shape[1], padded_h, padded_w)
            for k, (b, i, j) in enumerate(chunk):
                window = row_windows[i][:, None] * col_windows[j][None, :]
                blended[b, :, rows[i] : rows[i] + tile_h, cols[j] : cols[j] + tile_w] += output[k] * window
        assert blended is not None
        return (blended * inverse_total)[:, :, :height, :width]
