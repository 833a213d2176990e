"""nbgrader configuration of the seqcourse course (read by every ``nbgrader`` command run from this folder).

Layout (nbgrader's ``directory_structure`` is ``{nbgrader_step}/{student_id}/{assignment_id}``):

    solutions/<assignment>/<notebook>.ipynb     instructor source: solutions and hidden tests
    assignments/<assignment>/<notebook>.ipynb   release generated from it (``make release``), committed
    submitted/ autograded/ feedback/ gradebook.db   grading data, git-ignored

``nbgrader generate_assignment a00_warmup --force`` run from the repository root rewrites
``assignments/a00_warmup/``; ``seqcourse.grading.course`` copies this file into temporary courses so that the
tests and ``make release`` run nbgrader with exactly these settings. The root is the current directory and the
gradebook is ``<root>/gradebook.db`` (nbgrader's defaults), so the same file works for the repository and for
a temporary course.
"""

c = get_config()  # noqa: F821 (injected by traitlets when nbgrader loads this file)

c.CourseDirectory.course_id = "seqcourse"
c.CourseDirectory.source_directory = "solutions"
c.CourseDirectory.release_directory = "assignments"
# Never copy editor or build leftovers from solutions/ into the release or the autograded folders.
c.CourseDirectory.ignore = [
    ".ipynb_checkpoints",
    "*.pyc",
    "__pycache__",
    "feedback",
    ".DS_Store",
    "*.db",
    "grading_rules.toml",  # per-assignment grading rules (seqcourse.grading.rules): instructor-only
]

# What students see in place of ### BEGIN SOLUTION ... ### END SOLUTION.
c.ClearSolutions.code_stub = {"python": "# YOUR CODE HERE\nraise NotImplementedError()"}
c.ClearSolutions.text_stub = "请在此作答（YOUR ANSWER HERE）。"

# Autograding: the two-process engine of seqcourse-grade replaces nbgrader's Execute, so hidden tests run in a
# checker process against proxies of the student's objects, never inside the student's kernel
# (seqcourse/grading/engine.py); nbgrader's later preprocessors save the scores into its gradebook as usual.
from nbconvert.preprocessors import ClearMetadataPreprocessor  # noqa: E402
from nbgrader.preprocessors import (  # noqa: E402
    AssignLatePenalties,
    CheckCellMetadata,
    IgnorePattern,
    LimitOutput,
    SaveAutoGrades,
)

from seqcourse.grading.nbgrader_plugin import TwoProcessExecute  # noqa: E402

c.Autograde.autograde_preprocessors = [
    TwoProcessExecute,
    IgnorePattern,
    ClearMetadataPreprocessor,
    LimitOutput,
    SaveAutoGrades,
    AssignLatePenalties,
    CheckCellMetadata,
]
c.TwoProcessExecute.timeout = 120  # seconds per cell; a hung cell is interrupted

# Feedback: nbgrader's default shows hidden tests to students; remove them before the HTML is written.
from nbconvert.preprocessors import CSSHTMLHeaderPreprocessor  # noqa: E402
from nbgrader.preprocessors import GetGrades  # noqa: E402

from seqcourse.grading.feedback import StripHiddenTests  # noqa: E402

c.GenerateFeedback.preprocessors = [GetGrades, StripHiddenTests, CSSHTMLHeaderPreprocessor]
