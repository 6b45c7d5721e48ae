"""Fixtures shared by every test package: tiny models and real photos, small enough for a 2-core CPU."""

from __future__ import annotations

import dataclasses
import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from redis import Redis

from benchmarks.common import TINY_UNET, random_network
from model.checkpoint import save_checkpoint
from model.config import (
    DiffusionConfig,
    LossWeighting,
    ModelConfig,
    NoiseLevels,
    Preconditioning,
    Prediction,
    ScheduleConfig,
    ScheduleKind,
    Target,
)
from model.runtime import options as runtime_options
from model.runtime import precision as runtime_precision
from model.runtime.backend import CACHE_ENV
from palette.up import RedisServer

TINY_RESOLUTION = 32
KARRAS = ScheduleConfig(kind=ScheduleKind.KARRAS, num_steps=50, sigma_min=0.002, sigma_max=20.0, rho=7.0)
# The recipe of configs/residual-64.json: EDM over the classical prior.
EDM_RESIDUAL = DiffusionConfig(
    train_schedule=KARRAS,
    sample_schedule=KARRAS,
    prediction=Prediction.Y0,
    target=Target.RESIDUAL,
    preconditioning=Preconditioning.EDM,
    sigma_data=0.3,
    noise_levels=NoiseLevels.LOG_NORMAL,
    loss_weighting=LossWeighting.EDM,
    residual_taper=8.0,
)


def tiny_model_config(resolution: int = TINY_RESOLUTION) -> ModelConfig:
    """The benchmarks' tiny U-Net (two levels, one attention resolution, ~0.4 M parameters) at
    ``resolution``: a forward pass in milliseconds on a CPU."""
    unet = dataclasses.replace(TINY_UNET, image_size=resolution, attention_resolutions=(resolution // 2,))
    return ModelConfig(unet=unet)


def private_redis(fallback_db: int) -> Iterator[str]:
    """A redis-server of the caller's own (one per test package, so that one package flushing its data
    never touches another's long-lived processes), on a free port in a temporary directory. Without a
    redis-server binary: database ``fallback_db`` of the machine's Redis on the default port."""
    if shutil.which("redis-server") is None:
        yield f"redis://127.0.0.1:6379/{fallback_db}"
        return
    server = RedisServer()
    try:
        yield server.start()
    finally:
        server.remove()


@pytest.fixture
def redis(redis_url: str) -> Iterator[Redis]:
    """A client of the test package's Redis (its ``redis_url``), emptied before the test."""
    client = Redis.from_url(redis_url)
    client.flushdb()
    yield client
    client.close()


@pytest.fixture(scope="session", autouse=True)
def onnx_cache(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """Networks exported for ONNX Runtime/OpenVINO go to the session's own folder, never the user's cache;
    set in the environment, so the workers and APIs the tests start as processes use it too."""
    folder = tmp_path_factory.mktemp("onnx-cache")
    previous = os.environ.get(CACHE_ENV)
    os.environ[CACHE_ENV] = str(folder)
    yield folder
    if previous is None:
        os.environ.pop(CACHE_ENV, None)
    else:
        os.environ[CACHE_ENV] = previous


@pytest.fixture(scope="session", autouse=True)
def exact_cpu_numerics() -> Iterator[None]:
    """Sampling and training on the CPU run fp32 on every machine, so that expected outputs hold on CPUs
    with native bf16 too (where sampling would default to OpenVINO's bf16, and training to bf16
    autocast): in this process through the probes, in the workers the tests start through
    PALETTE_PRECISION. Tests of the choice itself patch the probes back."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(runtime_options, "native_bf16_cpu", lambda: False)
        patch.setattr(runtime_precision, "native_bf16_cpu", lambda: False)
        patch.setenv("PALETTE_PRECISION", "fp32")
        yield


@pytest.fixture(scope="session")
def tiny_checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    config = tiny_model_config()
    path = tmp_path_factory.mktemp("weights") / "tiny.safetensors"
    return save_checkpoint(path, random_network(config).state_dict(), config)


@pytest.fixture(scope="session")
def photo() -> np.ndarray:
    """A real colour photograph (scikit-image's astronaut, 512x512), as (H, W, 3) uint8."""
    from skimage import data

    return np.ascontiguousarray(data.astronaut())
