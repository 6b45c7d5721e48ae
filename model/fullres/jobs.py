"""A user's upload as a full-resolution job: its output geometry and its plan (passes, tiles, cost). No
torch: the API prices and limits a job with the very functions the worker runs it with."""

from __future__ import annotations

from collections.abc import Mapping

from PIL import Image

from model.fullres.defaults import task_defaults
from model.fullres.plan import Geometry, JobPlan, Tiling, plan_job, uncrop_geometry
from model.tasks import Task
from model.tasks.inpaint import binary_mask
from model.tasks.uncrop import parse_sides


def output_size(task: Task, width: int, height: int, options: Mapping[str, str]) -> tuple[int, int]:
    """(width, height) of the samples of ``task`` for a ``width`` x ``height`` upload: the upload's size, or
    for uncropping the extended canvas at the upload's scale."""
    if task.name == "uncrop":
        geometry = uncrop_geometry(width, height, parse_sides(task.option(options, "sides")))
        return geometry.width, geometry.height
    return width, height


def upload_geometry(
    task: Task, image: Image.Image, mask: Image.Image | None, options: Mapping[str, str]
) -> Geometry:
    """The output canvas of ``task`` for these (validated) inputs and the pixels it generates."""
    width, height = image.size
    if task.name == "uncrop":
        return uncrop_geometry(width, height, parse_sides(task.option(options, "sides")))
    if task.needs_mask and mask is not None:
        return Geometry(width, height, binary_mask(mask))
    return Geometry(width, height)


def model_tiling(resolution: int, levels: int, task: str, tile: int | None = None) -> Tiling:
    """Tiles of the model's resolution (or ``tile``) with the task's overlap."""
    return Tiling.for_model(resolution, levels, tile, task_defaults(task).overlap)


def plan_upload(
    task: Task,
    image: Image.Image,
    mask: Image.Image | None,
    options: Mapping[str, str],
    steps: int,
    samples: int,
    resolution: int,
    levels: int,
    tile: int | None = None,
) -> JobPlan:
    """The passes and cost (tile-steps) of a job, with the task's defaults (:mod:`model.fullres.defaults`)."""
    return plan_job(
        task.name,
        upload_geometry(task, image, mask, options),
        steps,
        samples,
        model_tiling(resolution, levels, task.name, tile),
        resolution,
    )
