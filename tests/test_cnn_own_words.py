"""The convolution chapters are written in the book's own words: no run of 16 Chinese characters is shared
with the lecture notes they mirror. The check ignores everything but CJK ideographs (so a run continues
across punctuation, spaces, math and code), which makes it stricter than comparing sentences.

The lecture notes are not part of the repository; set SEQCOURSE_SEEDS to their folder (default
/work/shared/seeds, the course machine's copy). Without them the test is skipped.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import nbformat
import pytest

from seqcourse.grading.course import repo_root

RUN = 16
CHAPTERS = ("book/cnn_basics.ipynb", "book/cnn_architectures.ipynb")
SEEDS = Path(os.environ.get("SEQCOURSE_SEEDS", "/work/shared/seeds"))
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
@pytest.mark.parametrize("chapter", CHAPTERS)
def test_chapter_shares_no_16_character_run_with_the_lectures(chapter):
    reference: set[str] = set()
    for seed in sorted(SEEDS.glob("*.txt")):
        reference |= runs_of(seed.read_text(encoding="utf-8"))
    nb = nbformat.read(repo_root() / chapter, as_version=4)
    text = "\n".join(cell.source for cell in nb.cells)
    assert len(ideographs(text)) > 1000  # the chapter really is Chinese prose
    assert shared_runs(text, reference) == []
