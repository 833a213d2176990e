"""nbgrader's folder exchange on Kubernetes, where every user is ``jovyan``: one sub-folder per student.

On Zero to JupyterHub all single-user pods run as the same uid, so the permissions nbgrader's default
exchange relies on (``inbound/`` writable but not listable, files owned by the submitter) cannot keep
students apart. The course's hub configuration (``deploy/z2jh/config.yaml``) therefore mounts one shared
volume into each pod differently:

=================================  ==========================================  ==========
path in a student's pod            sub-path of the exchange volume             access
=================================  ==========================================  ==========
``<root>/<course>/outbound``       ``<course>/outbound``                       read-only
``<root>/<course>/inbound``        ``<course>/inbound/<student>``              read-write
``<root>/<course>/feedback``       ``<course>/feedback/<student>``             read-only
=================================  ==========================================  ==========

A student's nbgrader therefore works unchanged (fetch, submit, list, fetch_feedback) and sees only their
own submissions and feedback; the instructor's pod mounts the whole volume. On the instructor's side the
layout is one folder deeper, which these two exchange classes handle (``c.ExchangeFactory.collect`` and
``c.ExchangeFactory.release_feedback`` in the instructor's nbgrader configuration):

- :class:`PerStudentCollect` collects ``inbound/<student>/<student>+<assignment>+<timestamp>[+<random>]``.
  The folder a submission sits in is the only proof of who submitted it (the files' owner is always
  ``jovyan``), so a submission whose name claims another student is ignored with a warning.
- :class:`PerStudentReleaseFeedback` writes each student's feedback into ``feedback/<student>/``.
"""

from __future__ import annotations

import glob
import os
from collections import defaultdict

from nbgrader.api import Gradebook, MissingEntry
from nbgrader.exchange.default.collect import ExchangeCollect
from nbgrader.exchange.default.release_feedback import ExchangeReleaseFeedback

__all__ = ["PerStudentCollect", "PerStudentReleaseFeedback"]


class PerStudentCollect(ExchangeCollect):
    """``nbgrader collect`` for an inbound folder split into one sub-folder per student."""

    def _path_to_record(self, path: str) -> dict:
        record = super()._path_to_record(path)
        record["filename"] = os.path.relpath(path, self.inbound_path)  # "<student>/<submission>"
        return record

    def init_src(self) -> None:
        if self.coursedir.course_id == "":
            self.fail("No course id specified. Re-run with --course flag.")
        self.course_path = os.path.join(self.root, self.coursedir.course_id)
        self.inbound_path = os.path.join(self.course_path, "inbound")
        if not os.path.isdir(self.inbound_path):
            self.fail(f"Course not found: {self.inbound_path}")
        wanted = self.coursedir.student_id or "*"
        pattern = os.path.join(self.inbound_path, "*", f"{wanted}+{self.coursedir.assignment_id}+*")
        by_student: dict[str, list[dict]] = defaultdict(list)
        for path in glob.glob(pattern):
            record = self._path_to_record(path)
            folder = os.path.basename(os.path.dirname(path))
            if record["username"] != folder:
                self.log.warning(
                    "ignored %s: a submission in %s's folder that claims to be %s's",
                    path,
                    folder,
                    record["username"],
                )
                continue
            by_student[folder].append(record)
        with Gradebook(self.coursedir.db_url, self.coursedir.course_id) as gb:
            try:
                self.duedate = gb.find_assignment(self.coursedir.assignment_id).duedate
            except MissingEntry:
                self.duedate = None
        self.src_records = [self._chosen(records) for records in by_student.values()]

    def _chosen(self, records: list[dict]) -> dict:
        """The newest submission, or with ``--before-duedate`` the newest one on time (if any)."""
        newest_first = self._sort_by_timestamp(records)
        if self.duedate is not None and self.before_duedate:
            on_time = [r for r in newest_first if r["timestamp"] <= self.duedate]
            if on_time:
                return on_time[0]
        return newest_first[0]


class PerStudentReleaseFeedback(ExchangeReleaseFeedback):
    """``nbgrader release_feedback`` into ``feedback/<student>/``: each pod mounts only its own folder."""

    def copy_files(self) -> None:
        only = self.coursedir.student_id if self.coursedir.student_id not in ("", "*") else None
        root = self.dest_path
        pattern = self.coursedir.format_path(
            self.coursedir.feedback_directory, "*", self.coursedir.assignment_id
        )
        for folder in sorted(glob.glob(pattern)):
            student = os.path.basename(os.path.dirname(folder))
            if only is not None and student != only:
                continue
            self.coursedir.student_id = student
            self.init_src()
            self.dest_path = os.path.join(root, student)
            os.makedirs(self.dest_path, exist_ok=True)
            super().copy_files()
        self.coursedir.student_id = only or "*"
        self.dest_path = root
