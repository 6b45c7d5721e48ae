"""Settings come from PALETTE_* variables, are typed, and refuse inconsistent combinations."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from jobs.settings import Settings


def test_settings_are_read_from_palette_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PALETTE_REDIS_URL", "redis://redis:6379/2")
    monkeypatch.setenv("PALETTE_MAX_BATCH", "16")
    monkeypatch.setenv("PALETTE_WEIGHTS", "/weights/palette.safetensors")
    settings = Settings()
    assert settings.redis_url == "redis://redis:6379/2"
    assert settings.max_batch == 16
    assert str(settings.weights) == "/weights/palette.safetensors"


def test_api_keys_are_a_comma_separated_list(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PALETTE_API_KEYS", "one, two,,three")
    assert Settings().api_keys == frozenset({"one", "two", "three"})


def test_api_keys_are_off_by_default() -> None:
    assert Settings().api_keys == frozenset()


def test_a_wrongly_typed_variable_is_an_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PALETTE_MAX_SAMPLES", "many")
    with pytest.raises(ValidationError, match="max_samples"):
        Settings()


def test_the_default_sample_count_cannot_exceed_the_maximum() -> None:
    with pytest.raises(ValidationError, match="default_samples"):
        Settings(max_samples=2, default_samples=4)


def test_tombstones_must_outlive_the_jobs_they_stand_for() -> None:
    with pytest.raises(ValidationError, match="tombstone_ttl_seconds"):
        Settings(result_ttl_seconds=86400, tombstone_ttl_seconds=3600)
