"""Copy the screenshots the browser tests take into ``docs/screenshots/``, where the README shows them.

``make screenshots`` runs the tests that take them (Chromium, as an instructor or student sees each page) and
then this script, which turns each PNG into a JPEG at most ``MAX_WIDTH`` wide, cut at ``MAX_HEIGHT`` (the top
of a long report is what the README needs), so the repository stays small. A screenshot that no test wrote
is an error naming the test to run; nothing is copied then.
"""

from __future__ import annotations

import sys
from pathlib import Path

from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
ARTIFACTS = ROOT / "test-artifacts"
TARGET = ROOT / "docs" / "screenshots"
MAX_WIDTH, MAX_HEIGHT = 1000, 1400  # pixels of the JPEG in the repository
# the README's image: (what a test wrote under test-artifacts/, the test that writes it)
SHOTS = {
    "gradebook.jpg": ("hub/4-instructor-gradebook.png", "tests/test_hub_e2e.py"),
    "similarity.jpg": ("instructor/similarity.png", "tests/test_similarity.py"),
    "quality.jpg": ("instructor/quality.png", "tests/test_quality.py"),
    "verify.jpg": ("instructor/verify.png", "tests/test_verify.py"),
}


def convert(source: Path, target: Path) -> tuple[int, int]:
    """Write ``source`` (a PNG) to ``target`` as a JPEG scaled to ``MAX_WIDTH`` and cut at ``MAX_HEIGHT``;
    return the JPEG's size in pixels."""
    with Image.open(source) as image:
        rgb = image.convert("RGB")
    scale = min(1.0, MAX_WIDTH / rgb.width)
    size = (round(rgb.width * scale), round(rgb.height * scale))
    rgb = rgb.resize(size, Image.Resampling.LANCZOS) if scale < 1 else rgb
    rgb = rgb.crop((0, 0, rgb.width, min(rgb.height, MAX_HEIGHT)))
    rgb.save(target, "JPEG", quality=80, optimize=True, progressive=True)
    return rgb.size


def main() -> int:
    missing = [
        f"{ARTIFACTS.name}/{src} (run {test})"
        for src, test in SHOTS.values()
        if not (ARTIFACTS / src).is_file()
    ]
    if missing:
        print("screenshots not taken yet:\n  " + "\n  ".join(missing), file=sys.stderr)
        return 1
    TARGET.mkdir(parents=True, exist_ok=True)
    for name, (source, _) in SHOTS.items():
        width, height = convert(ARTIFACTS / source, TARGET / name)
        kib = (TARGET / name).stat().st_size / 1024
        print(f"{TARGET.relative_to(ROOT)}/{name}: {width}x{height}, {kib:.0f} KiB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
