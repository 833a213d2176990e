"""Parallel, resumable, sandboxed autograding on top of nbgrader's preprocessors and gradebook.

For each student (main process unless noted):

1. ingest: read the notebook bytes (never modifying the originals) and validate them;
2. sanitize with nbgrader's own preprocessors (ClearOutput, DeduplicateIds, OverwriteKernelspec,
   OverwriteCells with ``add_missing_cells``, CheckCellMetadata): locked cells and hidden tests are
   restored from the gradebook, deleted test cells are put back;
3. static checks of the assignment's rules (:mod:`seqcourse.grading.rules`) on the student's source;
4. grade in a worker process with the two-process engine (:mod:`seqcourse.grading.engine`): the student's
   cells in a sandboxed kernel, the instructor's test cells in the worker (the checker) against proxies;
5. mark test cells that never ran as failed, then save grades with nbgrader's ``SaveAutoGrades`` into the
   gradebook;
6. write the instructor's autograded notebook, the student's feedback (hidden tests removed) and a small
   state file; a state file whose digest matches the submission means "done" on the next run.
"""

from __future__ import annotations

import atexit
import concurrent.futures as cf
import hashlib
import json
import multiprocessing as mp
import os
import shutil
import sys
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import nbformat
from nbformat import NotebookNode

from seqcourse.grading import course as course_mod
from seqcourse.grading.engine import KernelSupply, RunResult, is_test_cell, run_notebook, trusted_sources
from seqcourse.grading.ingest import Submission, collect, load_notebook
from seqcourse.grading.rules import Rules, load_rules
from seqcourse.grading.sandbox import (
    Limits,
    claim_slot,
    isolation_plan,
    kernel_keep_paths,
    make_base_dir,
    sensitive_paths,
)

__all__ = ["GradeConfig", "StudentResult", "grade", "prepare_course", "course_location", "state_file"]

STATE_VERSION = 2


@dataclass
class GradeConfig:
    """Everything one grading run needs; the CLI fills it from its arguments."""

    assignment_id: str
    submissions: Path
    out: Path
    source_root: Path = Path(course_mod.SOURCE_DIR)
    workers: int = field(default_factory=lambda: os.cpu_count() or 1)
    db_url: str | None = None
    force: bool = False
    pattern: str | None = None
    limits: Limits = field(default_factory=Limits)
    max_notebook_mb: float = 20.0
    progress: bool = True
    feedback: bool = True  # write feedback/<student>/<notebook>.html (the grader quality report needs none)

    def __post_init__(self) -> None:
        self.submissions, self.out, self.source_root = (
            Path(self.submissions),
            Path(self.out),
            Path(self.source_root),
        )
        if self.db_url and self.db_url.startswith(("postgresql://", "postgres://")):
            self.db_url = _postgres_driver(self.db_url)
        if not isinstance(self.workers, int) or self.workers < 1:
            raise ValueError(f"workers must be a positive int, got {self.workers!r}")


def _postgres_driver(url: str) -> str:
    """SQLAlchemy 2.1 maps ``postgresql://`` to psycopg 3; use psycopg2 when only that one is installed."""
    import importlib.util

    if importlib.util.find_spec("psycopg") is None and importlib.util.find_spec("psycopg2") is not None:
        return "postgresql+psycopg2://" + url.split("://", 1)[1]
    return url


@dataclass
class StudentResult:
    """Outcome of one student, as stored in ``<out>/state/<student>.json``."""

    student_id: str
    digest: str
    status: str  # graded | error | flagged
    reasons: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    sandbox: dict[str, Any] = field(default_factory=dict)
    seconds: float = 0.0
    timing: dict[str, float] = field(default_factory=dict)  # startup, kernel_start, student, checker (s)
    test_seconds: dict[str, float] = field(default_factory=dict)  # grade id -> seconds of each test cell


def state_file(out: Path, student: str) -> Path:
    """``<out>/state/<hash>.json``: a file name safe for any student id (spaces, a leading '-', '/'...)."""
    return Path(out) / "state" / f"{hashlib.sha256(student.encode()).hexdigest()[:32]}.json"


# ------------------------------------------------------------------------------------------ the course
def _source_digest(source: Path) -> str:
    h = hashlib.sha256()
    for path in sorted(source.rglob("*")):
        if path.is_file() and ".ipynb_checkpoints" not in path.parts:
            h.update(path.relative_to(source).as_posix().encode() + path.read_bytes())
    return h.hexdigest()


def course_location(cfg: GradeConfig) -> tuple[Path, str]:
    """``(course folder, gradebook URL)`` of a run, without creating anything."""
    course = cfg.out / "course"
    return course, cfg.db_url or f"sqlite:///{(course / 'gradebook.db').resolve()}"


def prepare_course(cfg: GradeConfig) -> tuple[Path, str]:
    """Create (or reuse) the private nbgrader course in ``<out>/course``; return ``(course, db_url)``."""
    source = cfg.source_root / cfg.assignment_id
    if not source.is_dir():
        raise FileNotFoundError(
            f"no assignment source {source} (expected <source_root>/{cfg.assignment_id}/)"
        )
    digest = _source_digest(source)
    course = cfg.out / "course"
    stamp = course / ".source-digest"
    if course.exists() and (cfg.force or not stamp.is_file() or stamp.read_text() != digest):
        if not cfg.force and stamp.is_file():
            raise RuntimeError(f"{source} changed since {cfg.out} was graded; use --force or a new --out")
        shutil.rmtree(course)
    if not course.exists():
        course = course_mod.make_course(cfg.out, cfg.assignment_id, cfg.source_root)
        if cfg.db_url:  # in the course's private config (mode 0600), never on a command line
            config = course / "nbgrader_config.py"
            config.write_text(config.read_text() + f"\nc.CourseDirectory.db_url = {cfg.db_url!r}\n")
            os.chmod(config, 0o600)
            course_mod.run_nbgrader(course, "generate_assignment", cfg.assignment_id, "--force")
        stamp.write_text(digest)
    return course_location(cfg)


# ------------------------------------------------------------------------------------------- sanitize
def _resources(nb_name: str, cfg: GradeConfig, student: str, db_url: str) -> dict[str, Any]:
    return {
        "nbgrader": {
            "notebook": nb_name,
            "assignment": cfg.assignment_id,
            "student": student,
            "db_url": db_url,
        }
    }


def _sanitize(nb: NotebookNode, resources: dict[str, Any]) -> NotebookNode:
    from nbgrader.preprocessors import (
        CheckCellMetadata,
        ClearOutput,
        DeduplicateIds,
        OverwriteCells,
        OverwriteKernelspec,
    )

    for pp in (
        ClearOutput(),
        DeduplicateIds(),
        OverwriteKernelspec(),
        OverwriteCells(add_missing_cells=True),
        CheckCellMetadata(),
    ):
        nb, resources = pp.preprocess(nb, resources)
    return nbformat.from_dict(nb)  # cells re-added by OverwriteCells are plain dicts


# ---------------------------------------------------------------------------------------- post-process
def _error_output(ename: str, evalue: str) -> NotebookNode:
    return nbformat.v4.new_output("error", ename=ename, evalue=evalue, traceback=[f"{ename}: {evalue}"])


def interpret(run: RunResult) -> tuple[NotebookNode, list[str], list[str]]:
    """Turn a graded notebook into a gradable one; return ``(nb, flag_reasons, notes)``."""
    nb, flags, notes = run.nb, [], list(run.notes)
    if run.died_at is not None:
        flags.append(
            f"the student's kernel died while running cell {run.died_at} "
            "(sys.exit/os._exit, a crash or a limit)"
        )
    if run.deadline_at is not None:
        flags.append(f"the notebook time limit was reached at cell {run.deadline_at}")
    if run.unresponsive_at is not None:
        flags.append(f"the kernel stopped responding (cell {run.unresponsive_at} could not be interrupted)")
    if run.strays_killed:
        notes.append(f"{run.strays_killed} stray processes were killed")
    for index, cell in enumerate(nb.cells):
        if is_test_cell(cell) and index not in run.completed:
            why = "the kernel died" if run.died_at is not None else "the kernel was stopped (time limits)"
            cell.outputs = [_error_output("NotExecuted", f"this test did not run: {why}")]
    return nb, flags, notes


# ------------------------------------------------------------------------------------------- workers
_SLOT: dict[str, Any] = {}


def _worker_init(limits: Limits, base: str, trusted: dict, rules: Rules) -> None:
    # two slot users of this worker alone, locked for the worker's lifetime (other graders on the machine
    # too): one student's kernel runs as one while the next student's kernel starts as the other
    slots = [claim_slot(), claim_slot()]
    kernels = KernelSupply(limits, base, [ids for _, ids, _ in slots], rules)
    atexit.register(kernels.close)
    _SLOT.update(
        locks=[lock for _, _, lock in slots], kernels=kernels, limits=limits, trusted=trusted, rules=rules
    )


def _work(name: str, nb_json: str, ahead: bool) -> dict[str, Any]:
    nb = nbformat.reads(nb_json, as_version=4)
    trusted, rules, kernels = _SLOT["trusted"][name], _SLOT["rules"], _SLOT["kernels"]
    run = run_notebook(nb, trusted, _SLOT["limits"], "", rules=rules, kernels=kernels, ahead=ahead)
    run.session = None
    return asdict(run) | {"nb": nbformat.writes(run.nb), "completed": sorted(run.completed)}


def _from_worker(data: dict[str, Any]) -> RunResult:
    data = dict(data)
    data["nb"] = nbformat.reads(data["nb"], as_version=4)
    data["completed"] = set(data["completed"])
    return RunResult(**data)


# -------------------------------------------------------------------------------------------- grading
class _Grader:
    def __init__(self, cfg: GradeConfig, course: Path, db_url: str) -> None:
        from nbgrader.api import Gradebook

        self.cfg, self.course, self.db_url = cfg, course, db_url
        self.cid = course_mod.course_id(course)
        self.state_dir = cfg.out / "state"
        self.state_dir.mkdir(exist_ok=True)
        with Gradebook(db_url, course_id=self.cid) as gb:
            assignment = gb.find_assignment(cfg.assignment_id)
            self.notebooks = [n.name for n in assignment.notebooks]
            self.cell_ids = {n.name: {c.name for c in n.source_cells} for n in assignment.notebooks}
        source = course / course_mod.SOURCE_DIR / cfg.assignment_id
        self.sources = {
            name: nbformat.read(source / f"{name}.ipynb", as_version=4) for name in self.notebooks
        }
        self.trusted = {name: trusted_sources(nb) for name, nb in self.sources.items()}
        self.rules = load_rules(cfg.source_root / cfg.assignment_id)

    def state_path(self, student: str) -> Path:
        return state_file(self.cfg.out, student)

    def done(self, sub: Submission) -> bool:
        path = self.state_path(sub.student_id)
        if self.cfg.force or not path.is_file():
            return False
        state = json.loads(path.read_text())
        return (
            state.get("digest") == sub.digest()
            and state.get("version") == STATE_VERSION
            and state.get("status") != "error"  # errors are retried on every run
        )

    def save(self, result: StudentResult) -> None:
        tmp = self.state_path(result.student_id).with_suffix(".tmp")
        tmp.write_text(json.dumps(asdict(result) | {"version": STATE_VERSION}, ensure_ascii=False, indent=1))
        os.replace(tmp, self.state_path(result.student_id))

    def prepare(self, sub: Submission) -> tuple[dict[str, str], StudentResult]:
        """Validate and sanitize; return the notebooks to run (name -> json) and the partial result."""
        from nbgrader.api import Gradebook

        result = StudentResult(sub.student_id, sub.digest(), "graded", list(sub.problems))
        if sub.extra:
            result.notes.append(f"ignored extra files: {', '.join(sorted(sub.extra)[:10])}")
        jobs: dict[str, str] = {}
        parsed = {}
        for name, raw in sorted(sub.notebooks.items()):
            nb, problem = load_notebook(raw)
            if problem is None and not any(
                c.metadata.get("nbgrader", {}).get("grade_id") in self.cell_ids[name] for c in nb.cells
            ):
                problem = (
                    f"contains none of the graded cells of {self.cfg.assignment_id} (another assignment?)"
                )
            if problem:
                result.reasons.append(f"{name}.ipynb: {problem}")
            parsed[name] = nb
        if result.reasons:
            result.status = "error"
            return {}, result
        with Gradebook(self.db_url, course_id=self.cid) as gb:
            gb.update_or_create_student(sub.student_id)
            gb.update_or_create_submission(self.cfg.assignment_id, sub.student_id)
        for name, nb in parsed.items():
            try:
                nb = _sanitize(nb, _resources(name, self.cfg, sub.student_id, self.db_url))
            except Exception as err:  # nbgrader refuses e.g. inconsistent cell metadata
                result.status = "error"
                result.reasons.append(f"{name}.ipynb: nbgrader could not sanitize it: {err}")
                return {}, result
            flags = self.rules.static_flags(nb, self.sources[name])
            if flags:
                result.status = "flagged"
                result.reasons.extend(flags)
            jobs[name] = nbformat.writes(nb)
        return jobs, result

    def finish(self, result: StudentResult, runs: dict[str, RunResult]) -> StudentResult:
        from nbgrader.preprocessors import LimitOutput, SaveAutoGrades

        from seqcourse.grading.report import write_feedback

        for name, run in runs.items():
            result.seconds += run.seconds
            for key, value in (
                ("startup", run.startup_seconds),
                ("kernel_start", run.kernel_start_seconds),
                ("student", run.student_seconds),
                ("checker", run.checker_seconds),
            ):
                result.timing[key] = result.timing.get(key, 0.0) + value
            result.test_seconds.update(run.test_seconds)
            result.sandbox = {**run.sandbox, "isolation": isolation_plan()[1]}
            if run.start_error:
                result.status = "error"
                result.reasons.append(f"{name}.ipynb: the sandboxed kernel did not start: {run.start_error}")
                continue
            nb, flags, notes = interpret(run)
            result.notes.extend(notes)
            if flags:
                result.reasons.extend(flags)
                if result.status == "graded":
                    result.status = "flagged"
            resources = _resources(name, self.cfg, result.student_id, self.db_url)
            for pp in (LimitOutput(), SaveAutoGrades()):
                nb, resources = pp.preprocess(nb, resources)
            dest = self.cfg.out / "autograded" / result.student_id / f"{name}.ipynb"
            dest.parent.mkdir(parents=True, exist_ok=True)
            nbformat.write(nb, dest)
            if self.cfg.feedback:  # nbconvert's HTML export is about half a second of CPU per notebook
                write_feedback(
                    nb,
                    self.cfg.out / "feedback" / result.student_id / f"{name}.html",
                    title=f"{self.cfg.assignment_id} · {result.student_id}",
                )
        self.save(result)
        return result


def _progress(total: int, enabled: bool) -> Any:
    from tqdm import tqdm

    return tqdm(total=total, unit="student", desc="grading", disable=not enabled, file=sys.stderr)


def grade(cfg: GradeConfig, on_result: Callable[[StudentResult], None] | None = None) -> list[StudentResult]:
    """Grade every submission of ``cfg``; return one result per student (also the previously finished)."""
    cfg.out.mkdir(parents=True, exist_ok=True)
    os.chmod(cfg.out, 0o700)
    course, db_url = prepare_course(cfg)
    grader = _Grader(cfg, course, db_url)
    subs, warnings = collect(
        cfg.submissions, cfg.assignment_id, grader.notebooks, cfg.pattern, cfg.max_notebook_mb
    )
    for w in warnings:
        print(f"warning: {w}", file=sys.stderr)
    results: dict[str, StudentResult] = {}
    todo: list[Submission] = []
    for sub in subs:
        if grader.done(sub):
            state = json.loads(grader.state_path(sub.student_id).read_text())
            state.pop("version", None)
            results[sub.student_id] = StudentResult(**state)
        else:
            todo.append(sub)
    bar = _progress(len(todo), cfg.progress)
    jobs: list[tuple[StudentResult, dict[str, str]]] = []
    for sub in todo:
        try:
            notebooks, result = grader.prepare(sub)
        except Exception as err:  # one odd submission must not stop the others
            notebooks = {}
            result = StudentResult(sub.student_id, sub.digest(), "error", [f"could not be prepared: {err!r}"])
        if notebooks:
            jobs.append((result, notebooks))
        else:
            results[sub.student_id] = grader.finish(result, {})
            bar.update()
    if jobs:
        _run_jobs(cfg, grader, jobs, results, bar, on_result)
    bar.close()
    return [results[s.student_id] for s in subs]


def _run_jobs(
    cfg: GradeConfig,
    grader: _Grader,
    jobs: list,
    results: dict,
    bar: Any,
    on_result: Callable[[StudentResult], None] | None,
) -> None:
    hide = set(cfg.limits.hide)
    hide.update(str(p.resolve()) for p in (cfg.out, cfg.submissions, cfg.source_root, grader.course))
    # the course repository (solutions/, tests/ with its mutants, .git/, ...) except the venv and the package
    roots = {str(course_mod.repo_root()), str(cfg.source_root.resolve().parent)}
    hide.update(sensitive_paths(roots, kernel_keep_paths()))
    hide.update(grader.rules.hidden_paths())  # the hidden modules' files: not even readable
    if cfg.db_url and cfg.db_url.startswith("sqlite:///"):
        hide.add(cfg.db_url[len("sqlite:///") :])
    limits = Limits(**{**asdict(cfg.limits), "hide": tuple(sorted(hide))})
    base = make_base_dir()
    ctx = mp.get_context("spawn")
    pending = {(r.student_id, name): (r, nb) for r, nbs in jobs for name, nb in nbs.items()}
    runs: dict[str, dict[str, RunResult]] = {}
    by_student = {r.student_id: (r, set(nbs)) for r, nbs in jobs}
    alone = False  # after a worker crash, every remaining notebook runs in a pool of its own
    try:
        while pending:
            batch = dict([next(iter(pending.items()))]) if alone else dict(pending)
            size = 1 if alone else cfg.workers
            with cf.ProcessPoolExecutor(
                size,
                mp_context=ctx,
                initializer=_worker_init,
                initargs=(limits, base, grader.trusted, grader.rules),
            ) as pool:
                # the last notebook each worker is likely to get starts no kernel in advance
                last = len(batch) - size
                futures = {
                    pool.submit(_work, key[1], nb, k < last): key
                    for k, (key, (_, nb)) in enumerate(batch.items())
                }
                for fut in cf.as_completed(futures):
                    key = futures[fut]
                    try:
                        run = _from_worker(fut.result())
                    except cf.process.BrokenProcessPool:
                        if not alone:
                            alone = True  # who crashed it is unknown: retry each one alone
                            continue
                        run = RunResult(
                            nb=nbformat.v4.new_notebook(),
                            start_error="the grading worker crashed while grading this notebook alone",
                        )
                    pending.pop(key)
                    student, name = key
                    runs.setdefault(student, {})[name] = run
                    result, names = by_student[student]
                    if set(runs[student]) == names:
                        try:
                            results[student] = grader.finish(result, runs.pop(student))
                        except Exception as err:  # one student's odd notebook never stops the run
                            result.status = "error"
                            result.reasons.append(f"could not be finished: {type(err).__name__}: {err}")
                            grader.save(result)
                            results[student] = result
                        if on_result:
                            on_result(results[student])
                        bar.update()
    finally:
        shutil.rmtree(base, ignore_errors=True)
