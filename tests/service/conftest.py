"""Fixtures for the API's tests: a private Redis, settings pointing at it, and the app under TestClient."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pytest
from fastapi.testclient import TestClient
from PIL import Image
from redis import Redis

from jobs.images import encode_png
from jobs.settings import Settings
from service.app import create_app
from tests.conftest import private_redis


@pytest.fixture(scope="session")
def redis_url() -> Iterator[str]:
    yield from private_redis(fallback_db=13)


@pytest.fixture
def settings(redis_url: str) -> Settings:
    return Settings(
        redis_url=redis_url,
        max_upload_bytes=256 * 1024,
        max_image_pixels=1_000_000,
        max_image_side=2000,
        max_samples=4,
        default_samples=2,
        max_queue_length=3,
    )


@pytest.fixture
def client(settings: Settings, redis: Redis) -> Iterator[TestClient]:
    with TestClient(create_app(settings)) as test_client:
        yield test_client


@pytest.fixture
def small_photo(photo: np.ndarray) -> np.ndarray:
    """The photo at 96x128: big enough to be a photo, small enough for the test limits."""
    return np.asarray(Image.fromarray(photo).resize((128, 96), Image.Resampling.LANCZOS))


@pytest.fixture
def image_png(small_photo: np.ndarray) -> bytes:
    return encode_png(Image.fromarray(small_photo))


@pytest.fixture
def mask_png(small_photo: np.ndarray) -> bytes:
    mask = np.zeros(small_photo.shape[:2], dtype=np.uint8)
    mask[20:60, 30:90] = 255
    return encode_png(Image.fromarray(mask))
