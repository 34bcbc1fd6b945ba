"""The systems under test: corral from this checkout, supervisord 4.3.0 from the bench venv."""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass, field

BENCH = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
REPO = os.path.dirname(BENCH)
VENV = os.path.join(BENCH, ".venv-supervisor")
SUPERVISOR_PIN = "supervisor==4.3.0"


@dataclass(frozen=True)
class System:
    name: str
    daemon: tuple[str, ...]  # argv prefix; the bench appends -n -s -c CONF
    ctl: tuple[str, ...]  # argv prefix; the bench appends -c CONF COMMAND...
    env: dict[str, str] = field(default_factory=dict)

    def daemon_argv(self, conf: str) -> list[str]:
        return [*self.daemon, "-n", "-s", "-c", conf]

    def ctl_argv(self, conf: str, *args: str) -> list[str]:
        return [*self.ctl, "-c", conf, *args]


def _base_env() -> dict[str, str]:
    env = dict(os.environ)
    env.pop("PYTHONPATH", None)
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    return env


def ensure_supervisor_venv(log: bool = True) -> str:
    """Create bench/.venv-supervisor with supervisor 4.3.0 unless it is already there."""
    py = os.path.join(VENV, "bin", "python")
    sd = os.path.join(VENV, "bin", "supervisord")
    if os.path.exists(sd):
        out = subprocess.run([sd, "--version"], capture_output=True, text=True)
        if out.stdout.strip() == "4.3.0":
            return VENV
    if log:
        print(f"creating {VENV} with {SUPERVISOR_PIN} ...", flush=True)
    if not os.path.exists(py):
        subprocess.run([sys.executable, "-m", "venv", VENV], check=True)
    subprocess.run(
        [py, "-m", "pip", "install", "--quiet", "--disable-pip-version-check", SUPERVISOR_PIN],
        check=True,
    )
    return VENV


def corral() -> System:
    env = _base_env()
    env["PYTHONPATH"] = os.path.join(REPO, "src")
    py = sys.executable
    return System(
        "corral",
        (py, "-m", "corral.daemon.main"),
        (py, "-m", "corral.ctl.main"),
        env,
    )


def supervisord() -> System:
    bindir = os.path.join(VENV, "bin")
    return System(
        "supervisord",
        (os.path.join(bindir, "supervisord"),),
        (os.path.join(bindir, "supervisorctl"),),
        _base_env(),
    )
