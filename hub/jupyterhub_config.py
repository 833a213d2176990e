"""JupyterHub configuration of the seqcourse course hub (``make hub``; the end-to-end test starts it too).

One machine, one OS account per hub user (nbgrader names students by their OS user name):

- authentication: PAM against the local accounts (``hub/demo.py`` creates the demo accounts and gives them
  random passwords with chpasswd); the hub must run as root to check passwords and to switch users;
- spawner: LocalProcessSpawner, each single-user server runs as its user, in ``<state>/home/<user>``, with
  the course's Python (a copy readable by everyone, see ``hub/demo.py``) and its role's Jupyter config;
- roles: members of the ``instructors`` group get formgrader and the course tools; everyone else is a
  student with nbgrader's assignment list and Validate only (formgrader's server extension and lab plugin
  are switched off for them);
- nbgitpuller is enabled in the environment, so the book's launch links
  ``/hub/user-redirect/git-pull?repo=...&urlpath=...&branch=...`` open a page for a logged-in user.

Settings come from the environment (``hub/demo.py`` sets them): ``SEQCOURSE_HUB_DIR`` (state folder),
``SEQCOURSE_HUB_IP`` / ``SEQCOURSE_HUB_PORT`` (public address), ``SEQCOURSE_HUB_API_PORT`` and
``SEQCOURSE_PROXY_API_PORT``. For a real deployment keep this file, point the state folder at persistent
storage, put a TLS-terminating web server in front, and use real accounts (or another authenticator).
"""

import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import demo

c = get_config()  # noqa: F821 (injected by traitlets)

STATE = Path(os.environ.get("SEQCOURSE_HUB_DIR", str(demo.DEFAULT_DIR))).resolve()
IP = os.environ.get("SEQCOURSE_HUB_IP", "127.0.0.1")
PORT = int(os.environ.get("SEQCOURSE_HUB_PORT", "8100"))

# --- where the hub listens and keeps its state --------------------------------------------------------------
c.JupyterHub.bind_url = f"http://{IP}:{PORT}"
c.JupyterHub.hub_ip = "127.0.0.1"
c.JupyterHub.hub_port = int(os.environ.get("SEQCOURSE_HUB_API_PORT", str(PORT + 1)))
c.ConfigurableHTTPProxy.api_url = f"http://127.0.0.1:{os.environ.get('SEQCOURSE_PROXY_API_PORT', PORT + 2)}"
c.ConfigurableHTTPProxy.command = [str(demo.REPO / "node_modules" / ".bin" / "configurable-http-proxy")]
c.ConfigurableHTTPProxy.pid_file = str(STATE / "hub" / "proxy.pid")
c.JupyterHub.db_url = f"sqlite:///{STATE / 'hub' / 'jupyterhub.sqlite'}"
c.JupyterHub.cookie_secret_file = str(STATE / "hub" / "jupyterhub_cookie_secret")
c.JupyterHub.pid_file = str(STATE / "hub" / "jupyterhub.pid")
c.JupyterHub.cleanup_servers = True  # stopping the hub stops every user's server
c.JupyterHub.cleanup_proxy = True

# --- who may log in -----------------------------------------------------------------------------------------
c.JupyterHub.authenticator_class = "pam"
c.PAMAuthenticator.open_sessions = False  # no systemd/logind session per login (containers have none)
c.Authenticator.allowed_users = set(demo.USERS)
c.Authenticator.admin_users = set()  # nobody may reach other users' servers
c.JupyterHub.load_groups = {
    demo.INSTRUCTORS_GROUP: {"users": [u for u, role in demo.USERS.items() if role == "instructor"]},
    "students": {"users": [u for u, role in demo.USERS.items() if role == "student"]},
}

# --- every user's server: their own account, the course Python, their role's configuration ------------------
c.JupyterHub.spawner_class = "localprocess"
c.Spawner.default_url = "/lab"
c.Spawner.start_timeout = 120
c.Spawner.http_timeout = 90
c.Spawner.env_keep = ["LANG", "LC_ALL"]  # nothing else of root's environment reaches the users


def pre_spawn_hook(spawner):
    user = spawner.user.name
    instructor = any(g.name == demo.INSTRUCTORS_GROUP for g in spawner.user.groups)
    role = "instructor" if instructor else "student"
    env = demo.user_environment(STATE, user)
    env["JUPYTER_CONFIG_PATH"] = str(STATE / "jupyter" / role)
    spawner.environment = {**spawner.environment, **env}
    spawner.cmd = [demo.runtime_info(STATE)["python"], "-m", "jupyterhub.singleuser"]
    spawner.notebook_dir = str(demo.home(STATE, user))


c.Spawner.pre_spawn_hook = pre_spawn_hook
