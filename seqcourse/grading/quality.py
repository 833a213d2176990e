"""Grader quality report: do an assignment's hidden tests catch the wrong answers, and only those?

    seqcourse-grade quality ASSIGNMENT [--seeds N] [--mutants FILE] --out DIR

One ``seqcourse-grade`` run grades, as students of a private course, the instructor's solution ``N`` times
(each copy starts with a cell that seeds Python's, NumPy's and torch's global generators in the student's
kernel with another seed; torch's only where the assignment's grading rules allow torch in answers; in the
checker, Python's and NumPy's start from fresh entropy in every worker process, torch's from its fixed
default), the released notebook and every mutant of
``tests/mutants/<id>.py`` (plausible wrong answers, see :mod:`seqcourse.grading.mutants`), both with
seed 0. The run writes no feedback pages (they are for students, and cost half a second each).
``DIR/quality.html`` (offline, everything escaped) shows

- the matrix mutants x test cells: which test catches which wrong answer, each part's score against its
  maximum, and whether the mutant's declared ``breaks`` were honoured;
- the solution's score per seed (a flaky test shows up as a cell whose score changes with the seed);
- each test cell's runtime in the checker over the solution runs.

``DIR/quality.json`` holds the same data. The report **fails** (exit 1, the problems listed) on a flaky
test, a toothless test (a test cell that no mutant fails), a toothless mutant (one that loses no points) and
on every breach of :func:`seqcourse.grading.mutants.check_graded` (solution not full, release not zero,
``breaks`` not honoured).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import nbformat

from seqcourse.grading.mutants import (
    Mutant,
    answer_cells,
    apply_edits,
    check_graded,
    fill_release,
    load_mutants,
)
from seqcourse.grading.rules import Rules, load_rules

__all__ = [
    "Quality",
    "seed_name",
    "seeded",
    "torch_allowed",
    "build_submissions",
    "analyse",
    "write_html",
    "run",
    "main",
]

SEED_CELL = """\
# added by the grader quality report: this run's seed for the global random generators
import random

import numpy as np

random.seed({seed})
np.random.seed({seed})
"""
TORCH_SEED = "import torch\n\ntorch.manual_seed({seed})\n"


def seed_name(seed: int) -> str:
    """The student id of the solution's run with ``seed``."""
    return f"solution-seed{seed}"


def seeded(nb: nbformat.NotebookNode, seed: int, torch: bool = True) -> nbformat.NotebookNode:
    """A copy of ``nb`` whose first cell seeds ``random``, NumPy and (with ``torch``) torch in the kernel."""
    if not isinstance(seed, int) or isinstance(seed, bool) or seed < 0:
        raise ValueError(f"seed must be a non-negative int, got {seed!r}")
    out = nbformat.from_dict(nb)
    source = SEED_CELL + (TORCH_SEED if torch else "")
    out.cells.insert(0, nbformat.v4.new_code_cell(source.format(seed=seed)))
    return out


def torch_allowed(rules: Rules) -> bool:
    """Whether the seed cell may use torch: the assignment's rules neither hide, block nor forbid it (the
    static checks read the added cell like any cell of the student's)."""
    names = [*rules.blocked_modules, *rules.hidden_modules, *(n for f in rules.forbid for n in f.names)]
    return not any(n == "torch" or n.startswith("torch.") for n in names)


def build_submissions(
    source_nb: Path, release_nb: Path, mutants: Sequence[Mutant], seeds: int, dest: Path
) -> list[str]:
    """Write ``dest/<student>/<notebook>.ipynb`` for the seeded solutions, the release and each mutant.

    The solution's copies get seeds ``0 .. seeds-1``; the release and the mutants seed 0, like the first
    solution run they are compared with. Returns the solution runs' student ids (:func:`seed_name`); the
    others are ``release`` and the mutant names.
    """
    if not isinstance(seeds, int) or seeds < 1:
        raise ValueError(f"seeds must be a positive int, got {seeds!r}")
    name = Path(source_nb).name
    source = nbformat.read(source_nb, as_version=4)
    release = nbformat.read(release_nb, as_version=4)
    torch = torch_allowed(load_rules(Path(source_nb).parent))
    names = [seed_name(s) for s in range(seeds)]
    reserved = {*names, "release"}
    for seed, student in enumerate(names):
        (dest / student).mkdir(parents=True, exist_ok=True)
        nbformat.write(seeded(source, seed, torch), dest / student / name)
    (dest / "release").mkdir(parents=True, exist_ok=True)
    release = seeded(release, 0, torch)
    nbformat.write(release, dest / "release" / name)
    answers = answer_cells(source)
    for mutant in mutants:
        if mutant.name in reserved:
            raise ValueError(f"mutant name {mutant.name!r} is used twice or reserved")
        reserved.add(mutant.name)
        fill_release(release, apply_edits(answers, mutant), dest / mutant.name / name)
    return names


@dataclass
class Quality:
    """Everything the report shows; ``problems`` empty means the grader passed."""

    assignment_id: str
    cells: dict[str, float]  # autograded test cell -> points, in grade-id order
    parts: dict[str, list[str]]  # part -> its test cells
    mutants: list[dict] = field(default_factory=list)  # name, breaks, partial, failed, parts, problems
    seeds: list[dict] = field(default_factory=list)  # student, score, max_score, lost {cell: score}
    runtimes: dict[str, dict[str, float]] = field(default_factory=dict)  # cell -> mean, max seconds
    release_score: float = 0.0
    problems: list[str] = field(default_factory=list)


def analyse(
    assignment_id: str,
    graded: Mapping[str, Mapping],
    mutants: Sequence[Mutant],
    seed_runs: Sequence[str],
    test_seconds: Mapping[str, Mapping[str, float]] | None = None,
) -> Quality:
    """The report's data from the gradebook records (:func:`seqcourse.grading.course.scores`).

    ``graded`` must hold every run of ``seed_runs``, ``release`` and every mutant; ``test_seconds`` maps a
    run to ``{test cell: seconds}`` (the pipeline's :class:`~seqcourse.grading.pipeline.StudentResult`).
    """
    missing = sorted({*seed_runs, "release", *(m.name for m in mutants)} - set(graded))
    if missing or not seed_runs:
        raise ValueError(f"{assignment_id}: no grades for {missing or 'any solution run'}")
    first = graded[seed_runs[0]]
    cells = {k: c["max_score"] for k, c in sorted(first["cells"].items()) if c["autograded"]}
    parts: dict[str, list[str]] = {}
    for cell in cells:
        parts.setdefault(cell.split("_", 1)[0], []).append(cell)
    q = Quality(assignment_id, cells, parts, release_score=graded["release"]["autograded_score"])
    for student in seed_runs:
        got = graded[student]["cells"]
        lost = {k: got[k]["score"] for k in cells if got[k]["score"] < got[k]["max_score"]}
        q.seeds.append(
            {
                "student": student,
                "score": graded[student]["autograded_score"],
                "max_score": graded[student]["autograded_max"],
                "lost": lost,
            }
        )
        contract = check_graded({**graded, "solution": graded[student]}, [])
        q.problems += [f"{student}{p[len('solution') :]}" for p in contract if p.startswith("solution:")]
    for cell in cells:
        values = sorted({graded[s]["cells"][cell]["score"] for s in seed_runs})
        if len(values) > 1:
            q.problems.append(f"flaky test {cell}: the solution scored {values} over {len(seed_runs)} seeds")
    contract = check_graded({**graded, "solution": first}, mutants)
    q.problems += [p for p in contract if p.startswith("release:")]
    caught: set[str] = set()
    for mutant in mutants:
        record = graded[mutant.name]["cells"]
        failed = [k for k in cells if record[k]["score"] < record[k]["max_score"]]
        caught.update(failed)
        found = [p for p in contract if p.startswith(f"{mutant.name}: ")]
        if not failed:
            found.append(f"toothless mutant {mutant.name}: it loses no points")
        q.mutants.append(
            {
                "name": mutant.name,
                "breaks": sorted(mutant.breaks),
                "partial": mutant.partial,
                "failed": failed,
                "parts": {
                    part: [sum(record[k]["score"] for k in ks), sum(cells[k] for k in ks)]
                    for part, ks in parts.items()
                },
                "problems": found,
            }
        )
        q.problems += found
    q.problems += [f"toothless test {cell}: no mutant fails it" for cell in cells if cell not in caught]
    for cell in cells:
        times = [test_seconds[s][cell] for s in seed_runs if test_seconds and cell in test_seconds.get(s, {})]
        if times:
            q.runtimes[cell] = {"mean": statistics.fmean(times), "max": max(times)}
    return q


_TEMPLATE = """<!DOCTYPE html>
<html lang="zh-CN"><head><meta charset="utf-8"><title>{{ title }}</title><style>
body{font-family:sans-serif;max-width:80em;margin:2em auto;padding:0 1em}
table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #ccc;padding:.2em .5em;text-align:center}
th.cell{writing-mode:vertical-rl;transform:rotate(180deg);font-weight:normal;font-size:.85em}
td.caught{background:#c8e6c9}td.lost{background:#f8d7da}td.full{color:#888}td.left{text-align:left}
.problems{background:#f8d7da;padding:.5em 1em}.ok{background:#d4edda;padding:.5em 1em}
.bar{background:#4e79a7;height:.8em;display:inline-block}
</style></head><body>
<h1>{{ title }}</h1>
{% if q.problems %}<div class="problems"><h2>问题（{{ q.problems|length }}）</h2><ul>
{% for p in q.problems %}<li>{{ p }}</li>{% endfor %}</ul></div>
{% else %}<p class="ok">没有发现问题：每个测试单元格至少被一个变异体捕获，每个变异体都丢分，
解答在 {{ q.seeds|length }} 个随机种子下得分一致。</p>{% endif %}

<h2>变异体 × 测试（mutants × tests）</h2>
<p>✗：该测试判这个错误答案失败（捕获）；每个部分（part）一列得分/满分；“声明”是变异体声明会破坏的部分。</p>
<table><tr><th rowspan="2">变异体</th><th rowspan="2">声明 breaks</th>
{% for part, ks in q.parts.items() %}<th colspan="{{ ks|length + 1 }}">({{ part }})</th>{% endfor %}
<th rowspan="2">符合声明</th></tr><tr>
{% for part, ks in q.parts.items() %}{% for k in ks %}
<th class="cell">{{ k }} ({{ '%g' % q.cells[k] }})</th>{% endfor %}
<th>得分</th>{% endfor %}</tr>
{% for m in q.mutants %}<tr><td class="left">{{ m.name }}</td>
<td>{{ m.breaks|join(", ") }}{% if m.partial %}（部分）{% endif %}</td>
{% for part, ks in q.parts.items() %}{% for k in ks %}
<td class="{{ 'caught' if k in m.failed else 'full' }}">{{ '✗' if k in m.failed else '·' }}</td>{% endfor %}
{% set s = m.parts[part] %}
<td class="{{ 'lost' if s[0] < s[1] else 'full' }}">{{ '%g' % s[0] }}/{{ '%g' % s[1] }}</td>
{% endfor %}<td class="left">{% if m.problems %}✗ {{ m.problems|join("; ") }}{% else %}✓{% endif %}</td></tr>
{% endfor %}
<tr><td class="left">release（未作答）</td><td></td>
<td colspan="{{ q.cells|length + q.parts|length }}">自动评分得分 {{ '%g' % q.release_score }}</td>
<td></td></tr>
</table>

<h2>解答在不同随机种子下的得分</h2>
<table><tr><th>运行</th><th>得分</th><th>丢分的测试</th></tr>
{% for s in q.seeds %}<tr><td class="left">{{ s.student }}</td>
<td>{{ '%g' % s.score }}/{{ '%g' % s.max_score }}</td>
<td class="left">{% for k, v in s.lost.items() %}{{ k }}: {{ '%g' % v }} {% endfor %}</td></tr>{% endfor %}
</table>

<h2>每个测试的运行时间（检查进程，解答的各次运行）</h2>
<table><tr><th>测试</th><th>分值</th><th>平均 / s</th><th>最长 / s</th><th></th></tr>
{% for k, t in q.runtimes.items() %}<tr><td class="left">{{ k }}</td><td>{{ '%g' % q.cells[k] }}</td>
<td>{{ '%.3f' % t.mean }}</td><td>{{ '%.3f' % t.max }}</td>
<td class="left"><span class="bar" style="width:{{ (200 * t.max / slowest)|round|int }}px"></span></td>
</tr>{% endfor %}
</table>
</body></html>
"""


def write_html(q: Quality, path: Path) -> Path:
    """The report page: self-contained HTML (inline CSS, no script), every value escaped by jinja2."""
    import jinja2

    env = jinja2.Environment(autoescape=True, undefined=jinja2.StrictUndefined)
    slowest = max((t["max"] for t in q.runtimes.values()), default=0.0) or 1.0
    text = env.from_string(_TEMPLATE).render(
        q=q, title=f"{q.assignment_id} 评分器质量报告（grader quality）", slowest=slowest
    )
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    path.with_name("quality.json").write_text(json.dumps(asdict(q), ensure_ascii=False, indent=1))
    return path


def run(
    assignment_id: str,
    out: Path,
    mutants: Sequence[Mutant],
    seeds: int = 3,
    source_root: Path | None = None,
    workers: int | None = None,
) -> Quality:
    """Grade the seeded solutions, the release and every mutant in one ``seqcourse-grade`` run; report."""
    from seqcourse.grading import course as course_mod
    from seqcourse.grading.pipeline import GradeConfig, grade, prepare_course

    out = Path(out)
    source_root = Path(source_root or course_mod.repo_root() / course_mod.SOURCE_DIR)
    subs = out / "submissions"
    cfg = GradeConfig(
        assignment_id, subs, out / "grading", source_root=source_root, progress=False, feedback=False
    )
    if workers:
        cfg.workers = workers
    cfg.out.mkdir(parents=True, exist_ok=True)
    course, db_url = prepare_course(cfg)
    notebooks = sorted((source_root / assignment_id).glob("*.ipynb"))
    if len(notebooks) != 1:
        raise ValueError(
            f"{assignment_id} must have exactly one notebook, found {[p.name for p in notebooks]}"
        )
    release = course / course_mod.RELEASE_DIR / assignment_id / notebooks[0].name
    seed_runs = build_submissions(notebooks[0], release, mutants, seeds, subs)
    results = grade(cfg)
    errors = {r.student_id: r.reasons for r in results if r.status == "error"}
    if errors:
        raise RuntimeError(f"{assignment_id}: grading ended in error for {errors}")
    q = analyse(
        assignment_id,
        course_mod.scores(course, assignment_id, db_url=db_url),
        mutants,
        seed_runs,
        {r.student_id: r.test_seconds for r in results},
    )
    write_html(q, out / "quality.html")
    return q


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="seqcourse-grade quality", description=__doc__.split("\n\n")[0])
    p.add_argument("assignment", help="assignment id, e.g. a02_bptt")
    p.add_argument("--seeds", type=int, default=3, help="runs of the solution, each with its own seed")
    p.add_argument("--mutants", type=Path, help="mutants file (default: tests/mutants/ASSIGNMENT.py)")
    p.add_argument("--source", type=Path, help="source root (default: the repository's solutions/)")
    p.add_argument("--workers", type=int, help="parallel kernels (default: cores)")
    p.add_argument("--out", type=Path, required=True, help="output folder: quality.html, quality.json")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    from seqcourse.grading.course import repo_root

    args = build_parser().parse_args(argv)
    try:
        mutants = load_mutants(args.mutants or repo_root() / "tests" / "mutants" / f"{args.assignment}.py")
        q = run(args.assignment, args.out, mutants, args.seeds, args.source, args.workers)
    except (ValueError, FileNotFoundError, RuntimeError) as err:
        print(f"seqcourse-grade quality: {err}", file=sys.stderr)
        return 2
    print(
        f"{args.assignment}: {len(q.mutants)} mutants x {len(q.cells)} tests, {args.seeds} seeds -> "
        f"{args.out / 'quality.html'}"
    )
    if q.problems:
        print(f"{len(q.problems)} problems:\n" + "\n".join(f"  {p}" for p in q.problems), file=sys.stderr)
        return 1
    return 0
