"""Instructor tooling on top of nbgrader."""
