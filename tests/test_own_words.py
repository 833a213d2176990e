"""The book and the assignments are written in the course's own words: no run of 16 Chinese characters of
any chapter, page or assignment notebook is shared with the lecture notes they mirror. The check ignores
everything but CJK ideographs (so a run continues across punctuation, spaces, math and code), which makes
it stricter than comparing sentences.

The lecture notes are not part of the repository: they sit in ``../shared/seeds`` beside the checkout on the
course's machines and in CI; set SEQCOURSE_SEEDS to another folder. Without them the test is skipped.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import nbformat
import pytest

from seqcourse.grading.course import repo_root

RUN = 16
ROOT = repo_root()
PAGES = sorted(
    p.relative_to(ROOT).as_posix()
    for folder in ("book", "assignments", "solutions")
    for p in (ROOT / folder).rglob("*")
    if p.suffix in (".ipynb", ".md") and ".ipynb_checkpoints" not in p.parts
)
SEEDS = Path(os.environ.get("SEQCOURSE_SEEDS", ROOT.parent / "shared" / "seeds"))
CJK = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")


def ideographs(text: str) -> str:
    return "".join(CJK.findall(text))


def shared_runs(text: str, reference: set[str], run: int = RUN) -> list[str]:
    """Every run of ``run`` consecutive ideographs of ``text`` that also occurs in ``reference``."""
    chars = ideographs(text)
    return [chars[i : i + run] for i in range(len(chars) - run + 1) if chars[i : i + run] in reference]


def runs_of(text: str, run: int = RUN) -> set[str]:
    chars = ideographs(text)
    return {chars[i : i + run] for i in range(len(chars) - run + 1)}


def test_shared_runs_finds_a_copied_sentence_across_punctuation():
    reference = runs_of("卷积核记录了一组权值，在滑动覆盖的过程中保持不变。")
    assert shared_runs("我们说：卷积核记录了一组权值——在滑动覆盖的过程中保持不变", reference)
    assert not shared_runs("同一个卷积核从左上角滑到右下角，权重不变。", reference)


@pytest.mark.skipif(not SEEDS.is_dir(), reason=f"lecture notes not found in {SEEDS} (set SEQCOURSE_SEEDS)")
@pytest.mark.parametrize("page", PAGES)
def test_page_shares_no_16_character_run_with_the_lectures(page, lecture_runs):
    path = ROOT / page
    if path.suffix == ".ipynb":
        text = "\n".join(cell.source for cell in nbformat.read(path, as_version=4).cells)
    else:
        text = path.read_text(encoding="utf-8")
    assert shared_runs(text, lecture_runs) == []


def test_every_chapter_is_checked():
    chapters = {p for p in PAGES if p.startswith("book/") and p.endswith(".ipynb")}
    assert {"book/rnn_basics.ipynb", "book/cnn_basics.ipynb"} <= chapters


@pytest.fixture(scope="module")
def lecture_runs() -> set[str]:
    reference: set[str] = set()
    for seed in sorted(SEEDS.glob("*.txt")):
        reference |= runs_of(seed.read_text(encoding="utf-8"))
    assert len(reference) > 10_000  # the five lectures were read
    return reference
