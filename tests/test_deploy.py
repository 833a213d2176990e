"""The Kubernetes deployment (deploy/): checked as far as it can be without a cluster.

- ``deploy/z2jh/config.yaml`` validates against Zero to JupyterHub's ``values.schema.yaml`` (vendored);
- the Python in its ``hub.extraConfig`` runs: LMS roles become hub groups, and each pod gets its view of the
  nbgrader exchange volume;
- those very views, laid out as folders, carry a real nbgrader release → fetch → submit → collect →
  autograde → feedback round with the instructor configuration from the same file, and keep students apart;
- the manifests in ``deploy/k8s/`` validate against the Kubernetes API schema (``kubernetes-validate``).
"""

from __future__ import annotations

import asyncio
import copy
import json
import os
import re
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import jsonschema
import nbformat
import pytest
import yaml
from traitlets.config import Config

ROOT = Path(__file__).resolve().parents[1]
Z2JH = ROOT / "deploy" / "z2jh"
CONFIG = yaml.safe_load((Z2JH / "config.yaml").read_text(encoding="utf-8"))
SCHEMA = yaml.safe_load((Z2JH / "values.schema.yaml").read_text(encoding="utf-8"))
MEMBERSHIP = "http://purl.imsglobal.org/vocab/lis/v2/membership"


# --- the values file against the chart's schema ---
def _without_required(node: object) -> object:
    """The schema less the `required` lists of object schemas (oneOf branches keep theirs)."""
    if isinstance(node, dict):
        drop = "properties" in node
        return {k: _without_required(v) for k, v in node.items() if not (drop and k == "required")}
    if isinstance(node, list):
        return [_without_required(v) for v in node]
    return node


def _validator() -> jsonschema.Draft7Validator:
    # Every `required` key (imagePullSecrets, hub.baseUrl, singleuser.storage.type, ...) has a default in the
    # chart's own values.yaml, which Helm merges under ours before it validates; everything else (types,
    # enums, patterns, additionalProperties: false) applies to our values as they are.
    return jsonschema.Draft7Validator(_without_required(SCHEMA))


def test_config_validates_against_the_z2jh_schema() -> None:
    errors = [f"{'.'.join(map(str, e.path))}: {e.message}" for e in _validator().iter_errors(CONFIG)]
    assert errors == []


@pytest.mark.parametrize(
    "path, value",
    [
        (("singleuser", "memroy"), {"limit": "2G"}),  # a typo
        (("cull", "timeout"), "one hour"),  # a wrong type
        (("proxy", "https", "enabled"), "yes"),  # a string where a boolean belongs
    ],
)
def test_schema_check_rejects_broken_values(path: tuple[str, ...], value: object) -> None:
    broken = copy.deepcopy(CONFIG)
    node = broken
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = value
    assert list(_validator().iter_errors(broken)), f"{'.'.join(path)} = {value!r} was accepted"


# --- the hub's Python (hub.extraConfig) ---
@pytest.fixture(scope="module")
def hub_config() -> SimpleNamespace:
    c = Config()
    namespace = {"c": c}
    exec(CONFIG["hub"]["extraConfig"]["seqcourse"], namespace)  # as z2jh's jupyterhub_config.py does
    namespace["config"] = c
    return SimpleNamespace(**namespace)


@pytest.mark.parametrize(
    "roles, group",
    [
        ([f"{MEMBERSHIP}#Instructor"], "instructors"),
        ([f"{MEMBERSHIP}/Instructor#TeachingAssistant"], "instructors"),
        ([f"{MEMBERSHIP}#ContentDeveloper", f"{MEMBERSHIP}#Learner"], "instructors"),
        ([f"{MEMBERSHIP}#Learner"], "students"),
        (["http://purl.imsglobal.org/vocab/lis/v2/institution/person#Administrator"], "students"),
        (["http://purl.imsglobal.org/vocab/lis/v2/institution/person#Instructor"], "students"),
        ([], "students"),
        (None, "students"),
    ],
)
def test_lms_roles_become_hub_groups(hub_config, roles, group) -> None:
    claims = {} if roles is None else {hub_config.ROLES_CLAIM: roles}
    auth = {"name": "u1", "auth_state": claims}
    result = asyncio.run(hub_config.config.Authenticator.post_auth_hook(None, None, auth))
    assert result["groups"] == [group]


def test_hooks_are_installed_and_groups_managed(hub_config) -> None:
    c = hub_config.config
    assert c.KubeSpawner.pre_spawn_hook is hub_config.seqcourse_pre_spawn_hook
    assert CONFIG["hub"]["config"]["Authenticator"]["manage_groups"] is True
    assert CONFIG["hub"]["config"]["Authenticator"]["enable_auth_state"] is True


def _spawner(name: str, groups: list[str]) -> SimpleNamespace:
    user = SimpleNamespace(name=name, groups=[SimpleNamespace(name=g) for g in groups])
    return SimpleNamespace(
        user=user, volume_mounts=[{"name": "home", "mountPath": "/home/jovyan"}], environment={}
    )


def test_pre_spawn_hook_gives_each_role_its_view(hub_config) -> None:
    student = _spawner("s-17", ["students"])
    hub_config.seqcourse_pre_spawn_hook(student)
    mounts = {m["mountPath"]: m for m in student.volume_mounts}
    course = f"{hub_config.EXCHANGE_ROOT}/seqcourse"
    assert mounts[f"{course}/inbound"]["subPath"] == "seqcourse/inbound/s-17"
    assert not mounts[f"{course}/inbound"].get("readOnly")
    assert mounts[f"{course}/outbound"]["readOnly"] is True
    assert mounts[f"{course}/feedback"] == {
        "name": "nbgrader-exchange",
        "mountPath": f"{course}/feedback",
        "subPath": "seqcourse/feedback/s-17",
        "readOnly": True,
    }
    assert "/home/jovyan" in mounts, "the hook dropped the pod's other mounts"
    assert student.environment["JUPYTER_CONFIG_PATH"] == "/etc/seqcourse/jupyter/student"
    teacher = _spawner("t-1", ["instructors"])
    hub_config.seqcourse_pre_spawn_hook(teacher)
    assert {m["mountPath"]: m.get("subPath") for m in teacher.volume_mounts}[hub_config.EXCHANGE_ROOT] is None
    assert teacher.environment["JUPYTER_CONFIG_PATH"] == "/etc/seqcourse/jupyter/instructor"


@pytest.mark.parametrize("name", ["../s1", "s1/../../x", "S1", "-rf", "a b", "x" * 65, ""])
def test_unsafe_user_names_never_become_sub_paths(hub_config, name: str) -> None:
    with pytest.raises(ValueError, match="not safe as a folder name"):
        hub_config.exchange_mounts(name, False)


def test_role_configs_exist_for_every_role_the_hook_names() -> None:
    files = CONFIG["singleuser"]["extraFiles"]
    paths = {f["mountPath"] for f in files.values()}
    for role in ("student", "instructor"):
        assert f"/etc/seqcourse/jupyter/{role}/nbgrader_config.py" in paths
        assert f"/etc/seqcourse/jupyter/{role}/labconfig/page_config.json" in paths
    student_lab = files["student-lab"]["data"]["disabledExtensions"]
    assert student_lab["@jupyter/nbgrader:formgrader"] is True


# --- the exchange views carry a real nbgrader round ---
def _instructor_config_text() -> str:
    return CONFIG["singleuser"]["extraFiles"]["instructor-nbgrader"]["stringData"]


def _lay_out_view(pod_root: Path, volume: Path, mounts: list[dict], exchange_root: str) -> None:
    """Make ``pod_root`` look like the pod's exchange: each mount is a link to its sub-path of the volume."""
    for mount in mounts:
        target = volume / mount.get("subPath", "")
        target.mkdir(parents=True, exist_ok=True)
        where = pod_root / os.path.relpath(mount["mountPath"], exchange_root)
        if where == pod_root:
            pod_root.parent.mkdir(parents=True, exist_ok=True)
            pod_root.symlink_to(target)
        else:
            where.parent.mkdir(parents=True, exist_ok=True)
            where.symlink_to(target)


def _nbgrader(cwd: Path, *args: str) -> str:
    env = {
        **os.environ,
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",  # for alembic
        "JUPYTER_CONFIG_PATH": "",
        "JUPYTER_CONFIG_DIR": str(cwd / ".jupyter"),
    }
    proc = subprocess.run(
        [sys.executable, "-m", "nbgrader", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, f"nbgrader {' '.join(args)} failed:\n{proc.stdout}\n{proc.stderr}"
    return proc.stdout + proc.stderr


def _source_notebook() -> nbformat.NotebookNode:
    def meta(grade_id: str, **flags) -> dict:
        return {"nbgrader": {"grade_id": grade_id, "schema_version": 3, **flags}}

    answer = nbformat.v4.new_code_cell(
        "def add(a, b):\n    ### BEGIN SOLUTION\n    return a + b\n    ### END SOLUTION",
        metadata=meta("add", solution=True, grade=False, locked=False),
    )
    test = nbformat.v4.new_code_cell(
        "assert add(1, 2) == 3", metadata=meta("test_add", solution=False, grade=True, locked=True, points=1)
    )
    nb = nbformat.v4.new_notebook(cells=[answer, test])
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    return nb


def _answer(student_dir: Path, body: str) -> None:
    path = student_dir / "hw1" / "hw1.ipynb"
    nb = nbformat.read(path, as_version=4)
    nb.cells[0].source = f"def add(a, b):\n    {body}"
    nbformat.write(nb, path)


@pytest.mark.slow
def test_nbgrader_round_through_the_per_student_views(hub_config, tmp_path: Path) -> None:
    volume = tmp_path / "volume"
    volume.mkdir()
    root = hub_config.EXCHANGE_ROOT
    course = tmp_path / "instructor" / "course"
    (course / "solutions" / "hw1").mkdir(parents=True)
    nbformat.write(_source_notebook(), course / "solutions" / "hw1" / "hw1.ipynb")
    instructor_root = tmp_path / "pods" / "instructor"
    _lay_out_view(instructor_root, volume, hub_config.exchange_mounts("t-1", True), root)
    text = _instructor_config_text().replace(f'"{root}"', repr(str(instructor_root)))
    text = text.replace('"/home/jovyan/course"', repr(str(course)))
    (course / "nbgrader_config.py").write_text(text, encoding="utf-8")
    _nbgrader(course, "generate_assignment", "hw1", "--force")
    _nbgrader(course, "release_assignment", "hw1", "--force")

    answers = {"s1": "return a + b", "s2": "return a - b"}
    homes = {}
    for student, body in answers.items():
        pod = tmp_path / "pods" / student
        _lay_out_view(pod, volume, hub_config.exchange_mounts(student, False), root)
        homes[student] = home = tmp_path / "homes" / student
        home.mkdir(parents=True)
        common = ["--course", "seqcourse", f"--Exchange.root={pod}"]
        _nbgrader(home, "fetch_assignment", "hw1", *common)
        _answer(home, body)
        _nbgrader(home, "submit", "hw1", "--student", student, *common)
    # s2 forges a later, correct submission in s1's name inside s2's own inbound folder
    s2_inbound = tmp_path / "pods" / "s2" / "seqcourse" / "inbound"
    (real,) = s2_inbound.iterdir()
    forged = s2_inbound / real.name.replace("s2+", "s1+", 1).replace("+20", "+29", 1)
    subprocess.run(["cp", "-r", str(real), str(forged)], check=True)
    nb_path = forged / "hw1.ipynb"
    nb = nbformat.read(nb_path, as_version=4)
    nb.cells[0].source = "def add(a, b):\n    return a + b  # FORGED"
    nbformat.write(nb, nb_path)

    # what each student can reach through their pod: their own submission only
    assert sorted(
        p.name.split("+")[0] for p in (tmp_path / "pods" / "s1" / "seqcourse" / "inbound").iterdir()
    ) == ["s1"]

    log = _nbgrader(course, "collect", "hw1")
    assert "claims to be s1's" in log
    collected = (course / "submitted" / "s1" / "hw1" / "hw1.ipynb").read_text(encoding="utf-8")
    assert "FORGED" not in collected and "return a + b" in collected
    assert (course / "submitted" / "s2" / "hw1" / "hw1.ipynb").is_file()

    _nbgrader(course, "autograde", "hw1")
    _nbgrader(course, "generate_feedback", "hw1")
    _nbgrader(course, "release_feedback", "hw1")
    for student in answers:
        released = list((volume / "seqcourse" / "feedback" / student).glob("*.html"))
        assert len(released) == 1, f"{student}: {released}"
    assert not list((volume / "seqcourse" / "feedback").glob("*.html")), (
        "feedback outside the students' folders"
    )

    for student, points in (("s1", "1.0 / 1.0"), ("s2", "0.0 / 1.0")):
        pod = tmp_path / "pods" / student
        _nbgrader(
            homes[student],
            "fetch_feedback",
            "hw1",
            "--course",
            "seqcourse",
            "--student",
            student,
            f"--Exchange.root={pod}",
        )
        (page,) = (homes[student] / "hw1" / "feedback").glob("*/hw1.html")
        assert f"Score: {points}" in page.read_text(encoding="utf-8"), student
        seen = sorted(p.name for p in (pod / "seqcourse" / "feedback").iterdir())
        assert len(seen) == 1, f"{student} sees other students' feedback: {seen}"


# --- Kubernetes manifests ---
MANIFESTS = sorted((ROOT / "deploy" / "k8s").glob("*.yaml"))


@pytest.mark.parametrize("manifest", MANIFESTS, ids=lambda p: p.name)
def test_manifests_validate_against_the_kubernetes_api(manifest: Path) -> None:
    kubernetes_validate = pytest.importorskip("kubernetes_validate")
    for doc in yaml.safe_load_all(manifest.read_text(encoding="utf-8")):
        kubernetes_validate.validate(doc, "1.33.0", strict=True)


def test_manifest_validation_has_teeth() -> None:
    kubernetes_validate = pytest.importorskip("kubernetes_validate")
    doc = next(yaml.safe_load_all(MANIFESTS[0].read_text(encoding="utf-8")))
    doc["spec"]["accesModes"] = doc["spec"].pop("accessModes", ["ReadWriteMany"])  # a typo
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(json.loads(json.dumps(doc)), "1.33.0", strict=True)


# --- the course image ---
def test_image_is_built_from_the_project_environment() -> None:
    dockerfile = (ROOT / "deploy" / "Dockerfile").read_text(encoding="utf-8")
    makefile = (ROOT / "Makefile").read_text(encoding="utf-8")
    (torch_make,) = re.findall(r"^TORCH_VERSION\s*\?=\s*(\S+)", makefile, flags=re.M)
    assert f"ARG TORCH_VERSION={torch_make}" in dockerfile, "the image and the Makefile pin different torch"
    assert re.search(r'pip install [^\n]*"/opt/seqcourse\[book,grading,hub\]"', dockerfile)
    assert "COPY pyproject.toml" in dockerfile and "COPY seqcourse " in dockerfile
    users = re.findall(r"^USER\s+(\S+)", dockerfile, flags=re.M)
    assert users and users[-1] == "1000", "the image must end as the non-root user z2jh expects (uid 1000)"
    assert "fonts-noto-cjk" in dockerfile
