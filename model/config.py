"""Typed configuration of a Palette model.

Every checkpoint embeds its :class:`ModelConfig` as JSON, so weights can never be loaded into a network
of the wrong shape or sampled with a prediction type they were not trained for.
"""

from __future__ import annotations

import dataclasses
import enum
import json
import types
import typing
from dataclasses import dataclass
from typing import Any, TypeVar


class Prediction(enum.StrEnum):
    """What the network's output means (guided-diffusion's ``ModelMeanType``)."""

    EPS = "eps"  # the noise that was added (Palette)
    Y0 = "y0"  # the clean target
    V = "v"  # sqrt(g)*eps - sqrt(1-g)*y0 (Salimans & Ho 2022); well-behaved at both ends of the schedule


class LossType(enum.StrEnum):
    """The p of Palette's ||f(x, y_t, g) - target||_p. L2 gives more diverse samples, L1 more conservative."""

    L1 = "l1"
    L2 = "l2"


class ScheduleKind(enum.StrEnum):
    LINEAR = "linear"  # betas linear in t (Ho et al. 2020; Palette)
    COSINE = "cosine"  # gamma = cos^2 of a shifted angle (Nichol & Dhariwal 2021)
    KARRAS = "karras"  # sigma = sqrt((1-g)/g) evenly spaced in sigma^(1/rho) (Karras et al. 2022, eq. 5)


class Target(enum.StrEnum):
    """What the diffusion generates."""

    IMAGE = "image"  # the clean image y_0 itself (Palette)
    RESIDUAL = "residual"  # y_0 minus the task's classical prior (predict-and-refine; ResShift, I2SB)


class Prior(enum.StrEnum):
    """The classical fill of the unknown pixels that a residual model refines (:mod:`model.tasks.prior`)."""

    TELEA = "telea"  # OpenCV's fast-marching fill: creases along a square hole's diagonals (an X)
    SMOOTHED_TELEA = "smoothed_telea"  # Telea's fill blended, deeper into the hole, towards its own blur
    SMOOTHED_NAVIER_STOKES = "smoothed_navier_stokes"  # the same with OpenCV's Navier-Stokes fill


class Preconditioning(enum.StrEnum):
    """How the raw network is wrapped before its output becomes a prediction."""

    NONE = "none"  # the network's output is the prediction (Palette)
    EDM = "edm"  # Karras et al. 2022: c_in, c_skip, c_out from sigma and sigma_data; predicts y_0


class NoiseLevels(enum.StrEnum):
    """How training draws each example's noise level."""

    SCHEDULE = "schedule"  # a level of train_schedule uniformly, gamma uniform between neighbours (Palette)
    LOG_NORMAL = "log_normal"  # ln(sigma) ~ N(p_mean, p_std^2) (Karras et al. 2022)


class LossWeighting(enum.StrEnum):
    """Per-example weight of the loss as a function of the noise level."""

    UNIFORM = "uniform"  # Palette
    MIN_SNR = "min_snr"  # min(SNR, min_snr_gamma) relative to the prediction's own weight (Hang et al. 2023)
    EDM = "edm"  # (sigma^2 + sigma_data^2) / (sigma sigma_data)^2 on the y_0 error (Karras et al. 2022)


@dataclass(frozen=True)
class ScheduleConfig:
    """A discrete noise schedule with ``num_steps`` levels, gamma_1 > ... > gamma_N (gamma = alpha-bar)."""

    kind: ScheduleKind = ScheduleKind.LINEAR
    num_steps: int = 1000
    beta_start: float = 1e-4  # linear only
    beta_end: float = 0.09  # linear only; Palette's inference schedule
    cosine_offset: float = 0.008  # cosine only: the "s" of Nichol & Dhariwal
    sigma_min: float = 0.002  # karras only
    sigma_max: float = 80.0  # karras only
    rho: float = 7.0  # karras only


@dataclass(frozen=True)
class UNetConfig:
    """The ADM U-Net (Dhariwal & Nichol 2021) as Palette uses it, without class conditioning.

    ``attention_resolutions`` are feature-map sizes in pixels (32, 16, 8 in the paper), not downsampling
    factors; a value the network never reaches is an error, not a silent no-op.
    """

    image_size: int = 256
    source_channels: int = 3  # the conditioning image x (grayscale sources are replicated to RGB)
    mask_channels: int = 1  # 1 where the sampler must generate pixels, 0 where they are known
    out_channels: int = 3  # the target y
    base_channels: int = 64
    channel_mult: tuple[int, ...] = (1, 2, 4, 8)
    num_res_blocks: int = 2
    attention_resolutions: tuple[int, ...] = (32, 16, 8)
    head_channels: int = 32
    dropout: float = 0.0
    groups: int = 32
    resblock_updown: bool = True  # ADM's residual up/down-sampling blocks instead of strided convs
    embedding_channels_mult: int = 4  # noise-level embedding width = mult * base_channels

    @property
    def in_channels(self) -> int:
        return self.source_channels + self.mask_channels + self.out_channels

    @property
    def resolutions(self) -> tuple[int, ...]:
        """Feature-map size at each level of the U-Net, from the input down."""
        return tuple(self.image_size // 2**level for level in range(len(self.channel_mult)))


@dataclass(frozen=True)
class DiffusionConfig:
    """Training and inference schedules are separate: the network sees a continuous gamma, so a model
    trained on one schedule can be sampled with another (Palette trains on 2000 linear steps from 1e-6 to
    0.01 and samples on 1000 linear steps from 1e-4 to 0.09)."""

    train_schedule: ScheduleConfig = ScheduleConfig(num_steps=2000, beta_start=1e-6, beta_end=0.01)
    sample_schedule: ScheduleConfig = ScheduleConfig(num_steps=1000, beta_start=1e-4, beta_end=0.09)
    prediction: Prediction = Prediction.EPS
    loss: LossType = LossType.L2
    target: Target = Target.IMAGE
    prior: Prior = Prior.TELEA  # residual only: how the unknown pixels of the source are filled
    preconditioning: Preconditioning = Preconditioning.NONE
    sigma_data: float = 0.5  # EDM only: the standard deviation of what is diffused (image or residual)
    noise_levels: NoiseLevels = NoiseLevels.SCHEDULE
    p_mean: float = -1.2  # log_normal only
    p_std: float = 1.2  # log_normal only
    loss_weighting: LossWeighting = LossWeighting.UNIFORM
    min_snr_gamma: float = 5.0  # min_snr only
    # Share of training examples drawn at the sampling schedule's noisiest level instead: every sample
    # starts there from pure noise, and the one-step estimate (DDIM-1) is the network at that level alone,
    # which ln(sigma) ~ N(p_mean, p_std^2) visits almost never (Lin et al. 2024 on the first step).
    start_level_fraction: float = 0.0
    # Those start-level examples sit where each task's default request starts (the tasks' ``start`` in
    # model.fullres.defaults): restoration's partial start at sigma 0.32 is noised from the JPEG, as the
    # sampler noises it, not from the truth, so the one step users get is trained on what it is given.
    task_start_levels: bool = False
    # Residual models only, an inference choice: pixels over which the network's correction of the prior
    # fades in from the edge of the hole (:func:`model.diffusion.target.edge_fade`); 0 = none.
    residual_taper: float = 0.0

    @property
    def source_prior(self) -> Prior | None:
        """The classical prior the network's source is replaced by: a residual model's, none otherwise."""
        return self.prior if self.target is Target.RESIDUAL else None

    def __post_init__(self) -> None:
        if self.preconditioning is Preconditioning.EDM and self.prediction is not Prediction.Y0:
            raise ValueError("EDM preconditioning makes the network predict y0: set prediction to 'y0'")
        if self.loss_weighting is LossWeighting.EDM and self.prediction is not Prediction.Y0:
            raise ValueError("the EDM loss weighting is defined on the y0 error: set prediction to 'y0'")
        if self.sigma_data <= 0:
            raise ValueError(f"sigma_data must be positive, got {self.sigma_data}")
        if not 0.0 <= self.start_level_fraction <= 1.0:
            raise ValueError(f"start_level_fraction must be in [0, 1], got {self.start_level_fraction}")
        if self.residual_taper < 0:
            raise ValueError(f"residual_taper must be at least 0, got {self.residual_taper}")
        if self.residual_taper and self.target is not Target.RESIDUAL:
            raise ValueError("residual_taper applies to residual models only: set target to 'residual'")


@dataclass(frozen=True)
class ModelConfig:
    unet: UNetConfig = UNetConfig()
    diffusion: DiffusionConfig = DiffusionConfig()
    tasks: tuple[str, ...] = ("inpaint", "colorize", "uncrop", "restore")

    @property
    def resolution(self) -> int:
        return self.unet.image_size

    def to_dict(self) -> dict[str, Any]:
        return _to_jsonable(self)

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, sort_keys=True)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ModelConfig:
        return from_dict(cls, data)

    @classmethod
    def from_json(cls, text: str) -> ModelConfig:
        return cls.from_dict(json.loads(text))


T = TypeVar("T")


def _to_jsonable(value: Any) -> Any:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: _to_jsonable(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, tuple | list):
        return [_to_jsonable(v) for v in value]
    if isinstance(value, dict):
        return {k: _to_jsonable(v) for k, v in value.items()}
    return value


def from_dict(cls: type[T], data: dict[str, Any]) -> T:
    """Build a (nested, frozen) config dataclass from JSON data; unknown keys are an error, missing keys
    take their defaults, so old checkpoints keep loading when a field is added."""
    if not isinstance(data, dict):
        raise TypeError(f"{cls.__name__}: expected an object, got {type(data).__name__}")
    hints = typing.get_type_hints(cls)
    names = {f.name for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
    unknown = set(data) - names
    if unknown:
        raise ValueError(f"{cls.__name__}: unknown field(s) {sorted(unknown)}")
    kwargs = {name: _coerce(hints[name], value) for name, value in data.items()}
    return cls(**kwargs)


def _coerce(hint: Any, value: Any) -> Any:
    origin = typing.get_origin(hint)
    if dataclasses.is_dataclass(hint) and isinstance(hint, type):
        return from_dict(hint, value)
    if isinstance(hint, type) and issubclass(hint, enum.Enum):
        return hint(value)
    if origin is tuple:
        (item_type, *_) = typing.get_args(hint)
        return tuple(_coerce(item_type, v) for v in value)
    if origin in (typing.Union, types.UnionType):
        if value is None:
            return None
        (inner, *others) = [arg for arg in typing.get_args(hint) if arg is not type(None)]
        return _coerce(inner, value) if not others else value
    if hint is float and isinstance(value, int):
        return float(value)
    return value


__all__ = [
    "DiffusionConfig",
    "LossType",
    "LossWeighting",
    "ModelConfig",
    "NoiseLevels",
    "Preconditioning",
    "Prediction",
    "ScheduleConfig",
    "ScheduleKind",
    "Target",
    "UNetConfig",
    "from_dict",
]
