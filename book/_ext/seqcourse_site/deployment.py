"""Deployment settings of the launch buttons: the public (student) repository and the course hub.

Each is one value, read at build time: the environment variable wins over ``_config.yml``.

- ``SEQCOURSE_REPOSITORY_URL`` or ``repository.url``: the public student edition, e.g.
  ``https://github.com/my-course/seqcourse-student`` (``make student-edition`` writes its tree).
- ``SEQCOURSE_HUB_URL`` or ``launch_buttons.jupyterhub_url``: the course JupyterHub, e.g.
  ``https://hub.example.edu``.

When the repository is unset the book has no launch button at all (and no install line naming a repository);
when only the hub is unset it has Colab buttons only. The build prints what it did, so an unset value never
produces a dead link silently.
"""

from __future__ import annotations

import os
import re
from typing import Any

REPOSITORY_ENV = "SEQCOURSE_REPOSITORY_URL"
HUB_ENV = "SEQCOURSE_HUB_URL"
# sphinx-book-theme derives org/repo from these hosts only; Colab opens notebooks from GitHub only.
_REPOSITORY = re.compile(r"^https://(github\.com|gitlab\.com|bitbucket\.org)/[\w.-]+/[\w.-]+/?$")
_HUB = re.compile(r"^https?://[^/\s]+(/[^\s]*)?$")
_LOCAL_HOSTS = re.compile(r"^https?://(127\.\d+\.\d+\.\d+|localhost|0\.0\.0\.0)(:\d+)?(/|$)")


def deployment_urls(config_repository: str = "", config_hub: str = "") -> tuple[str, str]:
    """The (repository URL, hub URL) the build uses: environment first, then ``_config.yml``; "" when unset.

    Raises ValueError for a value that would give dead links (a repository that is not
    ``https://github.com|gitlab.com|bitbucket.org/<org>/<repo>``, a hub URL that is not http(s)).
    """
    repository = os.environ.get(REPOSITORY_ENV, "").strip() or (config_repository or "").strip()
    hub = os.environ.get(HUB_ENV, "").strip() or (config_hub or "").strip()
    repository = repository.removesuffix(".git").rstrip("/")
    hub = hub.rstrip("/")
    if repository and not _REPOSITORY.match(repository):
        raise ValueError(
            f"{REPOSITORY_ENV} / repository.url must look like https://github.com/<org>/<repo> "
            f"(or gitlab.com, bitbucket.org), got {repository!r}"
        )
    if hub and not _HUB.match(hub):
        raise ValueError(f"{HUB_ENV} / launch_buttons.jupyterhub_url must be an http(s) URL, got {hub!r}")
    return repository, hub


def install_command(repository: str) -> str:
    """The pip line that installs the course package from the student edition."""
    return f'pip install "seqcourse @ git+{repository}.git"'


def apply_deployment(config: Any) -> list[str]:
    """Set the theme's repository and launch buttons from the deployment settings; return notices to print."""
    options = config.html_theme_options
    buttons = dict(options.get("launch_buttons", {}))
    repository, hub = deployment_urls(options.get("repository_url", ""), buttons.get("jupyterhub_url", ""))
    notices = []
    options["repository_url"] = repository
    if not repository:
        buttons["jupyterhub_url"] = buttons["colab_url"] = ""
        notices.append(
            f"seqcourse: no launch buttons (Colab, JupyterHub): {REPOSITORY_ENV} / repository.url is unset. "
            "Set it to the public student edition's URL to add them."
        )
    else:
        buttons["jupyterhub_url"] = hub
        if not hub:
            notices.append(f"seqcourse: no JupyterHub buttons: {HUB_ENV} / jupyterhub_url is unset.")
        elif _LOCAL_HOSTS.match(hub):
            notices.append(f"seqcourse: the JupyterHub buttons point at a local hub ({hub}), for `make hub`.")
        if not repository.startswith("https://github.com/"):
            buttons["colab_url"] = ""
            notices.append("seqcourse: no Colab buttons: Colab opens notebooks from GitHub only.")
    options["launch_buttons"] = buttons
    substitutions = dict(getattr(config, "myst_substitutions", {}) or {})
    substitutions.update(intro_substitutions(repository))
    config.myst_substitutions = substitutions
    return notices


def intro_substitutions(repository: str) -> dict[str, str]:
    """The intro page's deployment-dependent phrases (MyST substitutions), in Markdown."""
    if repository:
        return {
            "repository_url": f"<{repository}>",
            "colab_install": f"`%{install_command(repository)}`",
            "deployment_note": "",
        }
    return {
        "repository_url": "由课程发布时配置",
        "colab_install": '`%pip install "seqcourse @ git+https://github.com/<组织>/<仓库>.git"`',
        "deployment_note": (
            "> **注意**：这一版教材构建时没有配置课程公开仓库，所以页面上没有启动按钮；"
            "上面安装命令里的 `<组织>/<仓库>` 要换成课程公开仓库（学生版）的地址，课程发布时会告诉你。"
        ),
    }
