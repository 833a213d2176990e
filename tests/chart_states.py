"""Draw an Altair chart in the real vega runtime (node + the vendored npm packages) for chosen param values.

Used by the chart tests to prove that every control value draws a different figure, without a browser.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = Path(__file__).with_suffix(".js")


def svgs(chart: Any, states: Iterable[Mapping[str, Any]]) -> list[str]:
    """The SVG that vega draws for ``chart`` with each state's param values (others at their defaults)."""
    node = shutil.which("node")
    if node is None or not (ROOT / "node_modules" / "vega-lite").is_dir():
        pytest.skip("node and the npm packages (make setup) are needed to draw charts")
    spec = chart.to_dict() if hasattr(chart, "to_dict") else chart
    payload = json.dumps({"spec": spec, "states": list(states)})
    res = subprocess.run([node, str(SCRIPT)], input=payload, capture_output=True, text=True, cwd=ROOT,
                         timeout=120)
    if res.returncode != 0:
        raise AssertionError(f"vega could not draw the chart:\n{res.stderr[-3000:]}")
    return json.loads(res.stdout)


def params(chart: Any) -> dict[str, dict[str, Any]]:
    """The chart's bound params by name (top level of its Vega-Lite spec)."""
    spec = chart.to_dict() if hasattr(chart, "to_dict") else chart
    return {p["name"]: p for p in spec.get("params", []) if "bind" in p}


def control_values(param: Mapping[str, Any]) -> list[Any]:
    """Every value the control of ``param`` offers: each slider stop, each radio / select option."""
    bind = param["bind"]
    if bind["input"] == "range":
        n = round((bind["max"] - bind["min"]) / bind["step"])
        return [round(bind["min"] + k * bind["step"], 10) for k in range(n + 1)]
    return list(bind["options"])
