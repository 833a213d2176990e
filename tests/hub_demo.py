"""``hub/demo.py`` (a script, not part of the package) loaded once as a module for the hub tests."""

from __future__ import annotations

import importlib.util
from pathlib import Path

_spec = importlib.util.spec_from_file_location(
    "seqcourse_hub_demo", Path(__file__).resolve().parents[1] / "hub" / "demo.py"
)
demo = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(demo)
