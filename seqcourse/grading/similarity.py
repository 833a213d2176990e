"""Similarity report: which pairs of submissions of one assignment share unusually much of their work.

    seqcourse-grade similarity ASSIGNMENT SUBMISSIONS --out DIR [--earlier DIR ...] [--top N] [--threshold T]

Notebook-aware, on top of copydetect's winnowing (Schleimer, Wilkerson & Aiken 2003, the algorithm MOSS uses):

- **code**: the code cells of each notebook, tokenised by Pygments with every name replaced by one symbol and
  comments and whitespace dropped, so renamed variables, moved functions and rewritten comments do not hide
  a copy. The k-grams of that token text are hashed and winnowed into fingerprints; a pair's score for a
  student is the share of that student's fingerprints that the other notebook has too.
- **written answers**: the Markdown answer cells (nbgrader ``solution`` cells), compared the same way on
  their text with whitespace and punctuation removed.
- **starter code never counts**: every fingerprint of the released notebook (the template students start
  from) is removed before comparing, so two untouched templates score zero.
- ``--earlier`` adds earlier terms' submissions: they are compared with this term's, not with each other.

Writes ``DIR/similarity.csv`` (every pair with a non-zero score, highest first) and ``DIR/similarity.html``
(offline: a histogram of all pair scores, the top pairs, and each top pair's matched regions side by side).
The score is evidence for a person to look at, never a verdict.
"""

from __future__ import annotations

import argparse
import csv
import html
import io
import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from itertools import combinations
from pathlib import Path

import nbformat
import numpy as np
from copydetect import CodeFingerprint, compare_files
from copydetect.utils import highlight_overlap

from seqcourse.grading import course as course_mod

__all__ = ["Submission", "Pair", "load_submissions", "compare", "write_csv", "write_html", "main"]

#: Noise threshold k (tokens / characters shorter than this never count) and guarantee threshold t
#: (any shared run at least this long is always found): winnowing window w = t - k + 1.
CODE_K, CODE_T = 25, 30
TEXT_K, TEXT_T = 12, 16
CSV_COLUMNS = ["student_a", "term_a", "student_b", "term_b", "score", "code_a", "code_b", "text_a", "text_b"]


@dataclass
class Submission:
    """One student's notebooks of the assignment, reduced to what is compared."""

    student: str
    term: str
    code: str
    text: str
    problem: str = ""  # why nothing could be read (a malformed notebook, no notebook)


@dataclass
class Pair:
    a: Submission
    b: Submission
    code: tuple[float, float]  # share of a's / b's code fingerprints that the other has too
    text: tuple[float, float]
    prints: tuple[tuple[CodeFingerprint, CodeFingerprint], tuple[CodeFingerprint, CodeFingerprint]]

    @property
    def score(self) -> float:
        """The larger share over code and text: one student copying half of another's work shows."""
        return float(max(*self.code, *self.text))

    def regions(self, part: str) -> tuple[np.ndarray, np.ndarray]:
        """Where the shared ``part`` ("code" or "text") lies in a's and b's source: (2, M) slices each."""
        fa, fb = self.prints[0] if part == "code" else self.prints[1]
        if not fa.hashes & fb.hashes:
            return np.zeros((2, 0), int), np.zeros((2, 0), int)
        _, _, slices = compare_files(fa, fb)
        return slices


def _normalise_text(text: str) -> str:
    """Lower case, letters and digits only: punctuation and spacing changes do not hide copied prose."""
    text = unicodedata.normalize("NFKC", text).lower()
    return "".join(ch for ch in text if ch.isalnum() or ch in "$\\^_{}")


def _notebook_parts(path: Path) -> tuple[str, str]:
    nb = nbformat.read(path, as_version=4)
    code, text = [], []
    for cell in nb.cells:
        if cell.cell_type == "code":
            code.append(cell.source)
        elif cell.cell_type == "markdown" and cell.get("metadata", {}).get("nbgrader", {}).get("solution"):
            text.append(cell.source)
    return "\n\n".join(code), "\n\n".join(text)


def load_submissions(folder: Path, term: str = "current") -> list[Submission]:
    """One :class:`Submission` per student folder of ``folder`` (notebooks anywhere below it).

    A folder whose notebooks cannot be read still yields a submission, empty, with the reason in ``problem``.
    """
    if not folder.is_dir():
        raise FileNotFoundError(
            f"submissions folder {folder} does not exist (expected one folder per student)"
        )
    found = []
    for student_dir in sorted(p for p in folder.iterdir() if p.is_dir() and not p.name.startswith(".")):
        notebooks = sorted(p for p in student_dir.rglob("*.ipynb") if ".ipynb_checkpoints" not in p.parts)
        code, text, problems = [], [], []
        for nb_path in notebooks:
            if nb_path.is_symlink():
                problems.append(f"{nb_path.name}: a symbolic link, not read")
                continue
            try:
                c, t = _notebook_parts(nb_path)
            except Exception as err:  # a malformed notebook is reported, never fatal
                problems.append(f"{nb_path.name}: not a readable notebook ({type(err).__name__})")
                continue
            code.append(c)
            text.append(t)
        if not notebooks:
            problems.append("no notebook")
        found.append(
            Submission(student_dir.name, term, "\n\n".join(code), "\n\n".join(text), "; ".join(problems))
        )
    return found


def _fingerprint(source: str, name: str, *, code: bool, boilerplate: np.ndarray) -> CodeFingerprint:
    k, t = (CODE_K, CODE_T) if code else (TEXT_K, TEXT_T)
    if not code:
        source = _normalise_text(source)
    return CodeFingerprint(
        name,
        k,
        t - k + 1,
        boilerplate=boilerplate,
        filter=code,
        language="python" if code else None,
        fp=io.StringIO(source),
    )


def _template_hashes(templates: Sequence[Path]) -> tuple[np.ndarray, np.ndarray]:
    """The fingerprints of the released notebooks' code and text (removed from every submission)."""
    parts = [_notebook_parts(t) for t in templates]
    code, text = "\n\n".join(c for c, _ in parts), "\n\n".join(t for _, t in parts)
    none = np.array([], dtype=np.int64)
    return (
        np.array(
            sorted(_fingerprint(code, "template.py", code=True, boilerplate=none).hashes), dtype=np.int64
        ),
        np.array(
            sorted(_fingerprint(text, "template.txt", code=False, boilerplate=none).hashes), dtype=np.int64
        ),
    )


def _containment(fa: CodeFingerprint, fb: CodeFingerprint) -> tuple[float, float]:
    """|F_a ∩ F_b| / |F_a| and |F_a ∩ F_b| / |F_b| over the winnowed fingerprints (0 for an empty side)."""
    shared = len(fa.hashes & fb.hashes)
    return (shared / len(fa.hashes) if fa.hashes else 0.0, shared / len(fb.hashes) if fb.hashes else 0.0)


def compare(submissions: Sequence[Submission], templates: Sequence[Path] = ()) -> list[Pair]:
    """Every pair with at least one submission of this term (``term == "current"``), highest score first.

    ``templates``: the released notebooks; their code and text never count as shared.
    """
    code_bp, text_bp = _template_hashes(templates)
    prints = [
        (
            _fingerprint(s.code, f"{s.student}.py", code=True, boilerplate=code_bp),
            _fingerprint(s.text, f"{s.student}.txt", code=False, boilerplate=text_bp),
        )
        for s in submissions
    ]
    pairs = []
    for i, j in combinations(range(len(submissions)), 2):
        a, b = submissions[i], submissions[j]
        if a.term != "current" and b.term != "current":
            continue
        code = _containment(prints[i][0], prints[j][0])
        text = _containment(prints[i][1], prints[j][1])
        pairs.append(Pair(a, b, code, text, ((prints[i][0], prints[j][0]), (prints[i][1], prints[j][1]))))
    pairs.sort(key=lambda p: (-p.score, p.a.student, p.b.student))
    return pairs


def write_csv(pairs: Sequence[Pair], path: Path) -> None:
    with path.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(CSV_COLUMNS)
        for p in pairs:
            if p.score == 0:
                continue
            row = [p.a.student, p.a.term, p.b.student, p.b.term, p.score, *p.code, *p.text]
            writer.writerow([f"{v:.4f}" if isinstance(v, float) else v for v in row])


def _histogram_svg(scores: Sequence[float], bins: int = 20) -> str:
    """A bar chart of how many pairs fall in each score bin, as inline SVG (no script, no remote asset)."""
    counts, edges = np.histogram(scores, bins=bins, range=(0.0, 1.0))
    width, height, pad = 600, 220, 30
    top = max(int(counts.max()), 1)
    bar_w = (width - 2 * pad) / bins
    bars = []
    for k, count in enumerate(counts):
        h = (height - 2 * pad) * np.sqrt(count / top)  # square-root scale: the few high pairs stay visible
        x, y = pad + k * bar_w, height - pad - h
        bars.append(
            f'<rect x="{x:.1f}" y="{y:.1f}" width="{bar_w - 1:.1f}" height="{h:.1f}" fill="#4a78b5">'
            f"<title>{edges[k]:.2f}–{edges[k + 1]:.2f}: {count} pairs</title></rect>"
        )
    ticks = "".join(
        f'<text x="{pad + t * (width - 2 * pad):.0f}" y="{height - 8}" font-size="11" '
        f'text-anchor="middle">{t:.1f}</text>'
        for t in np.linspace(0, 1, 6)
    )
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" role="img" '
        f'aria-label="pair score histogram">{"".join(bars)}{ticks}</svg>'
    )


def _side(doc: str, slices: np.ndarray) -> str:
    if slices.shape[1] == 0:
        return "（无共享片段 no shared region）"
    marked, _ = highlight_overlap(doc, slices, "\x00", "\x01", truncate=4)
    return html.escape(marked).replace("\x00", "<mark>").replace("\x01", "</mark>")


def write_html(pairs: Sequence[Pair], path: Path, assignment: str, top: int = 20) -> None:
    """The instructor's report: histogram, top pairs, matched regions side by side. Self-contained HTML."""
    rows, details = [], []
    for n, p in enumerate([p for p in pairs if p.score > 0][:top], start=1):
        rows.append(
            f'<tr><td><a href="#pair-{n}">{n}</a></td><td>{html.escape(p.a.student)} ({p.a.term})</td>'
            f"<td>{html.escape(p.b.student)} ({p.b.term})</td><td>{p.score:.0%}</td>"
            f"<td>{p.code[0]:.0%} / {p.code[1]:.0%}</td><td>{p.text[0]:.0%} / {p.text[1]:.0%}</td></tr>"
        )
        sides = []
        for label, part in (("代码 code", "code"), ("书面回答 written", "text")):
            slices = p.regions(part)
            fa, fb = p.prints[0] if part == "code" else p.prints[1]
            left, right = _side(fa.raw_code, slices[0]), _side(fb.raw_code, slices[1])
            sides.append(f"<h4>{label}</h4><div class='sbs'><pre>{left}</pre><pre>{right}</pre></div>")
        details.append(
            f"<section id='pair-{n}'><h3>{n}. {html.escape(p.a.student)} ↔ {html.escape(p.b.student)}"
            f" — {p.score:.0%}</h3>{''.join(sides)}</section>"
        )
    problems = sorted({(s.student, s.problem) for p in pairs for s in (p.a, p.b) if s.problem})
    problem_list = "".join(f"<li>{html.escape(s)}: {html.escape(r)}</li>" for s, r in problems)
    page = f"""<!DOCTYPE html>
<html lang="zh-CN"><head><meta charset="utf-8"><title>相似度报告 {html.escape(assignment)}</title>
<style>
body {{ font-family: sans-serif; margin: 2em; max-width: 1400px; }}
table {{ border-collapse: collapse; }} td, th {{ border: 1px solid #ccc; padding: 0.2em 0.6em; }}
.sbs {{ display: grid; grid-template-columns: 1fr 1fr; gap: 1em; }}
pre {{ background: #f7f7f7; padding: 0.5em; overflow-x: auto; white-space: pre-wrap; font-size: 12px; }}
mark {{ background: #ffd54f; }}
</style></head><body>
<h1>相似度报告（similarity report）: {html.escape(assignment)}</h1>
<p>{len(pairs)} pairs compared. Score = the larger share of one student's own code or written answer (starter
code removed) that also occurs in the other's. A high score is a reason to look, not a verdict.</p>
<h2>所有配对得分的分布（histogram of pair scores）</h2>{_histogram_svg([p.score for p in pairs])}
<h2>得分最高的配对（top pairs）</h2>
<table><tr><th>#</th><th>A</th><th>B</th><th>score</th><th>code A / B</th><th>written A / B</th></tr>
{"".join(rows)}</table>
{f"<h2>无法读取（not read）</h2><ul>{problem_list}</ul>" if problem_list else ""}
<h2>匹配的片段（matched regions）</h2>{"".join(details)}
</body></html>
"""
    path.write_text(page, encoding="utf-8")


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="seqcourse-grade similarity", description=__doc__.split("\n\n")[0])
    p.add_argument("assignment", help="assignment id, e.g. a02_bptt (its released notebook is the template)")
    p.add_argument("submissions", type=Path, help="folder with one sub-folder of notebooks per student")
    p.add_argument("--out", type=Path, required=True, help="output folder")
    p.add_argument("--earlier", type=Path, action="append", default=[], help="an earlier term's submissions")
    p.add_argument("--top", type=int, default=20, help="pairs shown in full in the HTML report")
    p.add_argument("--release", type=Path, default=Path(course_mod.RELEASE_DIR), help="released assignments")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if not re.fullmatch(r"[A-Za-z0-9_-]+", args.assignment):
        raise SystemExit(f"assignment id {args.assignment!r}: expected letters, digits, '_' or '-'")
    templates = sorted((args.release / args.assignment).glob("*.ipynb"))
    if not templates:
        raise SystemExit(
            f"no released notebook in {args.release / args.assignment} (the starter code to ignore)"
        )
    subs = load_submissions(args.submissions)
    for k, folder in enumerate(args.earlier):
        subs += load_submissions(folder, term=f"earlier-{k + 1}:{folder.name}")
    pairs = compare(subs, templates)
    args.out.mkdir(parents=True, exist_ok=True)
    write_csv(pairs, args.out / "similarity.csv")
    write_html(pairs, args.out / "similarity.html", args.assignment, top=args.top)
    print(f"{len(subs)} submissions, {len(pairs)} pairs: {args.out / 'similarity.html'}")
    return 0
