"""Building the data set: decode, downsize, write PNGs into train/ and val/, and the manifest beside them."""

from __future__ import annotations

import json
import logging
import shutil
import tempfile
from collections import Counter
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path, PurePosixPath

from PIL import Image, ImageOps

from model.data.demo.catalogue import CATALOGUE_VERSION
from model.data.demo.sources import (
    ALL_SOURCES,
    DemoDataError,
    SourceImage,
    available_sources,
    collect,
)
from model.data.demo.split import assign_splits

log = logging.getLogger(__name__)

SPLITS: tuple[str, ...] = ("train", "val")
MANIFEST_NAME = "manifest.json"
MANIFEST_VERSION = 2
DEFAULT_DEB_CACHE = Path("~/.cache/palette/debs")


@dataclass(frozen=True)
class DemoParams:
    """Everything that decides the output; a manifest with equal params means there is nothing to do.

    ``sources`` are those actually used: an optional source whose package is not installed is left out,
    so installing it later makes the next run rebuild. ``catalogue`` is ``CATALOGUE_VERSION``.
    """

    short_side: int
    val_fraction: float
    seed: int
    sources: tuple[str, ...]
    catalogue: int = CATALOGUE_VERSION


@dataclass(frozen=True)
class ManifestEntry:
    """One written PNG and its provenance."""

    file: str  # relative to the output directory, e.g. "val/skimage-coffee.png"
    split: str
    source: str
    package: str
    package_version: str
    original: str
    original_size: tuple[int, int]  # (width, height), after EXIF orientation
    size: tuple[int, int]
    licence: str
    credit: str


@dataclass(frozen=True)
class Manifest:
    """The contents of ``manifest.json``."""

    params: DemoParams
    images: tuple[ManifestEntry, ...]

    def files(self, split: str | None = None) -> list[str]:
        """Relative paths of the written images, optionally of one split only."""
        return [entry.file for entry in self.images if split is None or entry.split == split]

    def to_json(self) -> str:
        """Serialise, with per-split and per-package counts for people reading the file."""
        counts = Counter((entry.split, entry.package) for entry in self.images)
        return (
            json.dumps(
                {
                    "version": MANIFEST_VERSION,
                    "params": asdict(self.params),
                    "counts": {split: len(self.files(split)) for split in SPLITS},
                    "counts_by_package": {
                        package: {split: counts[split, package] for split in SPLITS}
                        for package in sorted({entry.package for entry in self.images})
                    },
                    "images": [asdict(entry) for entry in self.images],
                },
                indent=2,
                ensure_ascii=False,
            )
            + "\n"
        )

    @classmethod
    def from_json(cls, text: str) -> Manifest:
        """Parse ``to_json`` output; raises ``ValueError``/``KeyError``/``TypeError`` on anything else."""
        raw = json.loads(text)
        if raw.get("version") != MANIFEST_VERSION:
            raise ValueError(f"manifest version {raw.get('version')!r}, expected {MANIFEST_VERSION}")
        params = raw["params"]
        return cls(
            params=DemoParams(**{**params, "sources": tuple(params["sources"])}),
            images=tuple(
                ManifestEntry(
                    **{**entry, "original_size": tuple(entry["original_size"]), "size": tuple(entry["size"])}
                )
                for entry in raw["images"]
            ),
        )


# --- image processing ---------------------------------------------------------------------------------------


def to_rgb(image: Image.Image) -> Image.Image:
    """Upright 8-bit RGB: applies the EXIF orientation cameras write, and drops any alpha channel."""
    return ImageOps.exif_transpose(image).convert("RGB")


def downsize(image: Image.Image, short_side: int) -> Image.Image:
    """Scale so the short side is ``short_side`` pixels; never upscales, which would only invent detail.

    Lanczos with ``reducing_gap`` first box-reduces by an integer factor (fast, alias-free) and then
    resamples the remaining factor of at most 3.
    """
    width, height = image.size
    if min(width, height) <= short_side:
        return image
    scale = short_side / min(width, height)
    size = (short_side, round(height * scale)) if width <= height else (round(width * scale), short_side)
    return image.resize(size, Image.Resampling.LANCZOS, reducing_gap=3.0)


def _write_image(image: SourceImage, split: str, out: Path, short_side: int) -> ManifestEntry:
    original = to_rgb(image.load())
    small = downsize(original, short_side)
    file = PurePosixPath(split, f"{image.name}.png")
    small.save(out / file, format="PNG")
    return ManifestEntry(
        file=file.as_posix(),
        split=split,
        source=image.source,
        package=image.package,
        package_version=image.package_version,
        original=image.original,
        original_size=original.size,
        size=small.size,
        licence=image.licence,
        credit=image.credit,
    )


# --- the data set -----------------------------------------------------------------------------------------


def parse_sources(text: str) -> tuple[str, ...]:
    """``"sklearn,skimage"`` -> ``("skimage", "sklearn")``: validated, deduplicated, in canonical order, so
    that equal requests compare equal in the manifest."""
    requested = {part.strip() for part in text.split(",") if part.strip()}
    unknown = sorted(requested - set(ALL_SOURCES))
    if unknown or not requested:
        raise ValueError(f"sources must be a comma list among {','.join(ALL_SOURCES)}; got {text!r}")
    return tuple(source for source in ALL_SOURCES if source in requested)


def read_manifest(out: Path) -> Manifest | None:
    """The manifest in ``out``, or None when there is none or it cannot be parsed (then it is rebuilt)."""
    try:
        return Manifest.from_json((out / MANIFEST_NAME).read_text(encoding="utf-8"))
    except (OSError, ValueError, KeyError, TypeError):
        return None


def _is_complete(out: Path, manifest: Manifest) -> bool:
    return all((out / file).is_file() for file in manifest.files())


def _check_replaceable(out: Path, force: bool) -> None:
    """Refuse to replace split directories that a previous build did not make (no manifest beside them)."""
    if force or (out / MANIFEST_NAME).exists():
        return
    for split in SPLITS:
        directory = out / split
        if directory.is_dir() and any(directory.iterdir()):
            raise DemoDataError(
                f"{directory} exists without a {MANIFEST_NAME} beside it; --force replaces it"
            )


def _replace_outputs(out: Path, staging: Path) -> None:
    """Swap a finished build in for the previous one; the caller writes the new manifest afterwards.

    The old manifest goes first, so an interruption here never leaves a manifest that looks up to date.
    """
    (out / MANIFEST_NAME).unlink(missing_ok=True)
    for split in SPLITS:
        shutil.rmtree(out / split, ignore_errors=True)
        (staging / split).rename(out / split)


def build_demo_dataset(
    out: Path,
    *,
    short_side: int = 512,
    val_fraction: float = 0.2,
    seed: int = 0,
    sources: Sequence[str] = ALL_SOURCES,
    deb_cache: Path | None = None,
    force: bool = False,
) -> Manifest:
    """Write ``out/train/*.png``, ``out/val/*.png`` and ``out/manifest.json``; return the manifest.

    Does nothing (and downloads nothing) when ``out`` already holds a complete build with the same
    parameters, unless ``force``. ``deb_cache`` (default ``~/.cache/palette/debs``) keeps the Debian
    packages between runs. Raises :class:`DemoDataError` for failures the caller can fix.
    """
    if short_side < 1:
        raise ValueError(f"short_side must be positive, got {short_side}")
    if not 0.0 < val_fraction < 1.0:
        raise ValueError(f"val_fraction must be in (0, 1), got {val_fraction}")
    params = DemoParams(short_side, val_fraction, seed, available_sources(parse_sources(",".join(sources))))
    existing = read_manifest(out)
    if not force and existing is not None and existing.params == params and _is_complete(out, existing):
        log.info("%s is up to date (pass --force to rebuild)", out)
        return existing

    _check_replaceable(out, force)
    out.mkdir(parents=True, exist_ok=True)
    # Unpacked packages go to the system temp dir; PNGs are staged inside ``out`` (same file system, so
    # the final move is a rename) and a failed build leaves the previous one untouched.
    with (
        tempfile.TemporaryDirectory(prefix="palette-demo-") as workdir,
        tempfile.TemporaryDirectory(prefix=".staging-", dir=out) as staging,
    ):
        images = collect(params.sources, (deb_cache or DEFAULT_DEB_CACHE).expanduser(), Path(workdir))
        counts = Counter(image.name for image in images)
        duplicates = sorted(name for name, count in counts.items() if count > 1)
        if duplicates:
            raise DemoDataError(f"catalogue names are not unique: {', '.join(duplicates)}")
        splits = assign_splits({image.name: image.package for image in images}, val_fraction, seed)
        for split in SPLITS:
            (Path(staging) / split).mkdir()
        entries = [_write_image(image, splits[image.name], Path(staging), short_side) for image in images]
        _replace_outputs(out, Path(staging))
    manifest = Manifest(params, tuple(sorted(entries, key=lambda entry: entry.file)))
    (out / MANIFEST_NAME).write_text(manifest.to_json(), encoding="utf-8")
    return manifest


def summarize(manifest: Manifest, out: Path) -> str:
    """A few lines for the terminal: counts per package and split, and the size on disk."""
    counts = Counter((entry.package, entry.split) for entry in manifest.images)
    packages = sorted({entry.package for entry in manifest.images})
    width = max(len(package) for package in (*packages, "total"))
    lines = [f"{'package':<{width}}  {'train':>5}  {'val':>5}"]
    lines += [f"{p:<{width}}  {counts[p, 'train']:>5}  {counts[p, 'val']:>5}" for p in packages]
    lines.append(f"{'total':<{width}}  {len(manifest.files('train')):>5}  {len(manifest.files('val')):>5}")
    megabytes = sum((out / file).stat().st_size for file in manifest.files()) / 1e6
    lines.append(f"{len(manifest.images)} images, {megabytes:.1f} MB, in {out} (see {MANIFEST_NAME})")
    return "\n".join(lines)
