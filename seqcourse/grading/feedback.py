"""Feedback without hidden tests for plain ``nbgrader generate_feedback``.

nbgrader renders the autograded notebook as it is, hidden tests and the assertion messages that quote
them included. ``nbgrader_config.py`` puts :class:`StripHiddenTests` into
``GenerateFeedback.preprocessors``, so the course's feedback (command line, formgrader or the course hub)
goes through the same redaction as ``seqcourse-grade`` (:func:`seqcourse.grading.report.strip_hidden_tests`).
"""

from __future__ import annotations

from typing import Any

from nbconvert.preprocessors import Preprocessor
from nbformat import NotebookNode
from traitlets import Bool

from seqcourse.grading.report import strip_hidden_tests

__all__ = ["StripHiddenTests"]


class StripHiddenTests(Preprocessor):
    """nbconvert preprocessor: drop hidden-test lines and the outputs that would reveal them."""

    enabled = Bool(True)  # nbconvert preprocessors are off unless enabled

    def preprocess(self, nb: NotebookNode, resources: dict[str, Any]) -> tuple[NotebookNode, dict[str, Any]]:
        return strip_hidden_tests(nb), resources
