"""The systems under test, each installed in a venv of its own so both start on equal terms.

corral is installed from this checkout (not editable, re-installed at every bench run so the
venv holds exactly the code being measured); supervisord 4.3.0 from PyPI. Both are run through
their console scripts, as users run them: the interpreter, `site` and the .pth files of the
machine's own site-packages cost neither of them anything.
"""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass, field

BENCH = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
REPO = os.path.dirname(BENCH)
VENV = os.path.join(BENCH, ".venv-supervisor")
CORRAL_VENV = os.path.join(BENCH, ".venv-corral")
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


def ensure_corral_venv(log: bool = True) -> str:
    """Create bench/.venv-corral and install this checkout into it (its deps once)."""
    py = os.path.join(CORRAL_VENV, "bin", "python")
    if not os.path.exists(py):
        if log:
            print(f"creating {CORRAL_VENV} ...", flush=True)
        subprocess.run([sys.executable, "-m", "venv", CORRAL_VENV], check=True)
    quiet = ["--quiet", "--disable-pip-version-check"]
    # Dependencies resolve once; the package itself is rebuilt from the checkout every run.
    subprocess.run([py, "-m", "pip", "install", *quiet, REPO], check=True)
    subprocess.run(
        [py, "-m", "pip", "install", *quiet, "--no-deps", "--force-reinstall", REPO],
        check=True,
        stdout=subprocess.DEVNULL,
    )
    return CORRAL_VENV


def corral(src: str | None = None, name: str = "corral") -> System:
    """corral from the venv; with src (a directory holding the `corral` package, e.g. the
    src/ of an exported older commit) that tree shadows the installed one via PYTHONPATH,
    still started through the venv's console scripts and interpreter."""
    bindir = os.path.join(CORRAL_VENV, "bin")
    env = _base_env()
    if src is not None:
        env["PYTHONPATH"] = prepare_src(src)
    return System(
        name,
        (os.path.join(bindir, "corrald"),),
        (os.path.join(bindir, "corralctl"),),
        env,
    )


def prepare_src(src: str) -> str:
    """Check src holds the corral package and byte-compile it once with the venv's interpreter:
    the bench runs with PYTHONDONTWRITEBYTECODE, and a tree without .pyc files would make
    that system recompile every module at each start (the venv install is compiled)."""
    src = os.path.abspath(src)
    if os.path.isdir(os.path.join(src, "src", "corral")):
        src = os.path.join(src, "src")
    if not os.path.isfile(os.path.join(src, "corral", "__init__.py")):
        raise SystemExit(f"--corral-src {src}: no corral package there")
    py = os.path.join(CORRAL_VENV, "bin", "python")
    subprocess.run([py, "-m", "compileall", "-q", "-j0", src], check=True)
    return src


def supervisord() -> System:
    bindir = os.path.join(VENV, "bin")
    return System(
        "supervisord",
        (os.path.join(bindir, "supervisord"),),
        (os.path.join(bindir, "supervisorctl"),),
        _base_env(),
    )
