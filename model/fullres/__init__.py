"""Sampling at the upload's resolution (issue 13).

The U-Net is trained at one square resolution; these modules let every task answer at any size:

- :mod:`model.fullres.plan` (no torch): where the tiles go, the refinement region of a mask, and what a
  job costs in network evaluations at the model's resolution (the unit of estimates and progress).
- :mod:`model.fullres.defaults` (no torch): per-task full-resolution defaults, the one table the API, the
  page, the CLI and the workers read.
- :mod:`model.fullres.tiling`: :class:`TiledNetwork`, the network's own call on overlapping tiles with
  their outputs blended, so any sampler runs at any size.
- :mod:`model.fullres.sampler`: the fast-path and reference sampling loops at any size, from noise or
  from a partially noised start (SDEdit).
- :mod:`model.fullres.chroma` (no torch): luminance-guided chroma upsampling for colorization.
- :mod:`model.fullres.run`: :func:`run_task`, the one path from an upload to its samples that
  ``palette sample``, ``palette eval``, the workers (API and page) all use.

This package's ``__init__`` imports nothing, so that the API process can read the torch-free modules.
"""
