"""The engine behind nbgrader's own door: ``nbgrader autograde`` and formgrader's autograde button.

``nbgrader_config.py`` puts :class:`TwoProcessExecute` in place of nbgrader's ``Execute`` in
``Autograde.autograde_preprocessors``. nbgrader still sanitizes the submission (locked cells and hidden tests
restored from the gradebook), and its later preprocessors (``LimitOutput``, ``SaveAutoGrades``, late
penalties) store the scores in its gradebook, so formgrader, feedback and exports work as before. The test
cells, though, run in the checker (nbgrader's process) with the instructor's source read from the gradebook,
and the student's cells in a separate sandboxed kernel (:mod:`seqcourse.grading.engine`).
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Any

import nbformat
from nbformat import NotebookNode
from nbgrader.preprocessors.base import NbGraderPreprocessor
from traitlets import Integer, Unicode

from seqcourse.grading.engine import run_notebook
from seqcourse.grading.report import sanitize_student_html
from seqcourse.grading.rules import load_rules
from seqcourse.grading.sandbox import (
    Limits,
    claim_slot,
    isolation_plan,
    kernel_keep_paths,
    make_base_dir,
    sensitive_paths,
)

__all__ = ["TwoProcessExecute"]


class TwoProcessExecute(NbGraderPreprocessor):
    """Grade with the two-process engine instead of executing the whole notebook in one kernel."""

    timeout = Integer(120, help="seconds per cell").tag(config=True)
    notebook_timeout = Integer(1200, help="seconds per notebook").tag(config=True)
    source_directory = Unicode("solutions", help="where <assignment>/grading_rules.toml is").tag(config=True)

    def preprocess(self, nb: NotebookNode, resources: dict[str, Any]) -> tuple[NotebookNode, dict[str, Any]]:
        from nbgrader.api import Gradebook

        info = resources["nbgrader"]
        with Gradebook(info["db_url"]) as gb:
            notebook = gb.find_notebook(info["notebook"], info["assignment"])
            trusted = {cell.name: cell.source for cell in notebook.source_cells}
        course = Path.cwd()
        rules = load_rules(course / self.source_directory / info["assignment"])
        # the course and this package's repository (solutions/, tests/, .git/, ...) but what kernels import
        roots = [str(course), str(Path(__file__).resolve().parents[2])]
        limits = Limits(
            cell_timeout_s=self.timeout,
            notebook_timeout_s=self.notebook_timeout,
            hide=(*sensitive_paths(roots, kernel_keep_paths()), *rules.hidden_paths()),
        )
        base = make_base_dir()
        _, ids, lock = claim_slot()
        try:
            run = run_notebook(nb, trusted, limits, base, ids, rules)
        finally:
            os.close(lock)
            shutil.rmtree(base, ignore_errors=True)
        if run.start_error:
            raise RuntimeError(f"the student's kernel could not be started: {run.start_error}")
        source = course / self.source_directory / info["assignment"] / f"{info['notebook']}.ipynb"
        instructor = nbformat.read(source, as_version=4) if source.is_file() else None
        flags = rules.static_flags(nb, instructor) + [
            f"the student's kernel stopped at cell {at}"
            for at in (run.died_at, run.deadline_at, run.unresponsive_at)
            if at is not None
        ]
        sanitize_student_html(nb)  # formgrader and generate_feedback render this notebook
        sandbox = {**run.sandbox, "isolation": isolation_plan()[1]}
        nb.metadata["seqcourse_grading"] = {"flags": flags, "notes": run.notes, "sandbox": sandbox}
        for flag in flags:
            self.log.warning("%s/%s: %s", info.get("student"), info["notebook"], flag)
        return nb, resources
