"""Grading reports: ``grades.csv``, per-student feedback without hidden tests, and a summary with plots.

Everything is self-contained HTML (inline CSS, plots as embedded PNG); nothing is loaded from the network.
"""

from __future__ import annotations

import base64
import copy
import csv
import functools
import html
import io
import re
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from nbformat import NotebookNode

__all__ = [
    "HIDDEN_BEGIN",
    "strip_hidden_tests",
    "sanitize_student_html",
    "write_feedback",
    "write_grades_csv",
    "write_summary",
]

HIDDEN_BEGIN, HIDDEN_END = "### BEGIN HIDDEN TESTS", "### END HIDDEN TESTS"
_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")
_CSS = (
    "body{font-family:sans-serif;max-width:60em;margin:2em auto;padding:0 1em}"
    "pre{background:#f6f6f6;padding:.5em;overflow-x:auto}table{border-collapse:collapse}"
    "td,th{border:1px solid #ccc;padding:.2em .6em}.flagged{background:#fff3cd}.error{background:#f8d7da}"
)


def _page(title: str, body: str) -> str:
    return (
        f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title>"
        f"<style>{_CSS}</style></head><body>{body}</body></html>\n"
    )


def strip_hidden_tests(nb: NotebookNode) -> NotebookNode:
    """A copy of ``nb`` without hidden-test lines, and without outputs that would reveal them.

    Errors raised inside a hidden block keep only a generic message: a traceback or an assertion
    message quotes the failing line and may contain the expected values.
    """
    from nbgrader.preprocessors import ClearHiddenTests

    hidden_lines: dict[int, set[str]] = {}
    for i, cell in enumerate(nb.cells):
        if HIDDEN_BEGIN in cell.source:
            block = cell.source.split(HIDDEN_BEGIN, 1)[1].split(HIDDEN_END, 1)[0]
            hidden_lines[i] = {ln.strip() for ln in block.splitlines() if len(ln.strip()) > 3}
    redacted = NotebookNode(copy.deepcopy(nb))
    redacted, _ = ClearHiddenTests().preprocess(redacted, {})
    for i, lines in hidden_lines.items():
        cell = redacted.cells[i]
        kept = []
        for out in cell.get("outputs", []):
            text = _ANSI.sub(
                "", "".join(out.get("traceback", [])) + str(out.get("evalue", "")) + str(out.get("text", ""))
            )
            if out.output_type == "error" or any(line in text for line in lines):
                if out.output_type == "error":
                    kept.append(
                        NotebookNode(
                            output_type="error",
                            ename=out.ename,
                            evalue="",
                            traceback=[f"{out.ename}: a hidden test failed (details hidden)"],
                        )
                    )
                continue
            kept.append(out)
        cell.outputs = kept
    return redacted


_UNSAFE_MIME = ("application/javascript", "text/javascript", "image/svg+xml")


def sanitize_student_html(nb: NotebookNode) -> NotebookNode:
    """Sanitise (in place) every piece of HTML the student wrote or printed, with ``nh3`` (ammonia).

    Student markdown cells (written answers, free cells) are rendered to HTML and cleaned, so an
    ``<img onerror=...>`` or a ``<script>`` never reaches feedback pages or formgrader; locked instructor
    cells are kept as they are. HTML outputs are cleaned; JavaScript and SVG outputs are dropped.
    """
    import nh3
    from nbconvert.filters.markdown_mistune import markdown2html_mistune

    for cell in nb.cells:
        meta = cell.metadata.get("nbgrader", {})
        instructor = meta.get("locked") and not meta.get("solution")
        if cell.cell_type == "markdown" and not instructor and "<" in cell.source:
            cell.source = nh3.clean(markdown2html_mistune(cell.source))
        for out in cell.get("outputs", []):
            data = out.get("data")
            if not data:
                continue
            for mime in _UNSAFE_MIME:
                data.pop(mime, None)
            if "text/html" in data:
                text = data["text/html"]
                data["text/html"] = nh3.clean("".join(text) if isinstance(text, list) else str(text))
    return nb


def _clean_html(element: str | bytes) -> str:
    """nbconvert's ``clean_html`` filter with the same allow-list, done by ``nh3`` instead of ``bleach``
    (a tenth of the time; every markdown cell and HTML output of a feedback page goes through it)."""
    import nh3

    text = element.decode() if isinstance(element, bytes) else str(element)
    attributes = {**nh3.ALLOWED_ATTRIBUTES, "*": {"class", "id"}}
    return nh3.clean(text, tags=nh3.ALLOWED_TAGS | _EXTRA_TAGS, attributes=attributes)


_EXTRA_TAGS = frozenset({"div", "pre", "code", "span", "table", "tr", "td"})


@functools.cache
def _exporter() -> Any:
    """One HTML exporter per process: its templates are compiled once, not for every student."""
    from nbconvert import HTMLExporter

    exporter = HTMLExporter(template_name="basic")
    exporter.register_filter("clean_html", _clean_html)
    return exporter


def write_feedback(nb: NotebookNode, path: Path, title: str) -> Path:
    """Feedback HTML for the student: the graded notebook with hidden tests removed, scores per cell."""
    from nbgrader import utils

    clean = sanitize_student_html(strip_hidden_tests(nb))
    parts = []
    for cell in clean.cells:
        meta = cell.metadata.get("nbgrader", {})
        if meta.get("grade") and cell.cell_type == "code" and not meta.get("solution"):
            score, max_score = utils.determine_grade(cell)
            parts.append(
                f"<tr><td>{html.escape(meta['grade_id'])}</td><td>{score:g} / {max_score:g}</td></tr>"
            )
    body, _ = _exporter().from_notebook_node(clean)
    table = "<table><tr><th>test</th><th>score</th></tr>" + "".join(parts) + "</table>"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(_page(title, f"<h1>{html.escape(title)}</h1>{table}{body}"), encoding="utf-8")
    return path


def write_grades_csv(rows: Sequence[dict[str, Any]], parts: Sequence[str], path: Path) -> Path:
    """One row per student: id, score, max_score, status, reason, one column per part, then the digests of
    what the grade was computed from (:data:`seqcourse.grading.provenance.PROVENANCE_COLUMNS`)."""
    from seqcourse.grading.provenance import PROVENANCE_COLUMNS

    with open(path, "w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(["student_id", "score", "max_score", "status", "reason", *parts, *PROVENANCE_COLUMNS])
        for row in rows:
            writer.writerow(
                [
                    row["student_id"],
                    f"{row['score']:g}",
                    f"{row['max_score']:g}",
                    row["status"],
                    row["reason"],
                    *(f"{row['parts'].get(p, 0.0):g}" for p in parts),
                    *(row.get(c, "") for c in PROVENANCE_COLUMNS),
                ]
            )
    return path


def _png(fig: Any) -> str:
    import matplotlib.pyplot as plt

    buf = io.BytesIO()
    fig.savefig(buf, format="png", bbox_inches="tight")
    plt.close(fig)
    return f"<img alt='plot' src='data:image/png;base64,{base64.b64encode(buf.getvalue()).decode()}'>"


def write_summary(
    rows: Sequence[dict[str, Any]],
    parts: dict[str, float],
    failed: Counter,
    path: Path,
    title: str,
    notes: Sequence[str] = (),
) -> Path:
    """Summary HTML: status counts, a score histogram per part, the most frequently failed tests."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from seqcourse.plot import use_course_style

    use_course_style()
    graded = [r for r in rows if r["status"] != "error"]
    figs = []
    for part, max_score in parts.items():
        fig, ax = plt.subplots(figsize=(4, 2.6))
        ax.hist(
            [r["parts"].get(part, 0.0) for r in graded],
            bins=max(int(max_score), 1) + 1,
            range=(-0.5, max_score + 0.5),
        )
        ax.set(title=f"({part}) 得分分布", xlabel="score", ylabel="students")
        figs.append(_png(fig))
    if failed:
        common = failed.most_common(10)
        fig, ax = plt.subplots(figsize=(6, 0.4 * len(common) + 1))
        ax.barh([k for k, _ in common][::-1], [v for _, v in common][::-1])
        ax.set(title="最常失败的测试 (most failed tests)", xlabel="students")
        figs.append(_png(fig))
    counts = Counter(r["status"] for r in rows)
    status = ", ".join(f"{k}: {counts.get(k, 0)}" for k in ("graded", "flagged", "error"))
    table = "".join(
        f"<tr class='{r['status']}'><td>{html.escape(r['student_id'])}</td>"
        f"<td>{r['score']:g}/{r['max_score']:g}</td><td>{r['status']}</td><td>{html.escape(r['reason'])}</td></tr>"
        for r in rows
        if r["status"] != "graded"
    )
    body = (
        f"<h1>{html.escape(title)}</h1><p>{len(rows)} students — {status}</p>"
        + "".join(f"<p>{html.escape(n)}</p>" for n in notes)
        + "".join(figs)
        + (f"<h2>flagged and errors</h2><table>{table}</table>" if table else "")
    )
    path.write_text(_page(title, body), encoding="utf-8")
    return path
