"""The seed's workflow, end to end, with corralctl and with Supervisor 4.3's own supervisorctl:
drop a file into the include directory, `reread`, `update`; change it; remove it."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support import Daemon, env_for_children, wait_until

CTLS = {
    "corralctl": [sys.executable, "-m", "corral.ctl.main"],
    "supervisorctl": [shutil.which("supervisorctl") or "supervisorctl"],
}


def ctl(tool: str, conf: Path, *args: str) -> tuple[str, int]:
    r = subprocess.run(
        [*CTLS[tool], "-c", str(conf), *args],
        capture_output=True,
        text=True,
        env=env_for_children(),
        timeout=60,
    )
    return r.stdout, r.returncode


@pytest.mark.parametrize("tool", sorted(CTLS))
def test_include_dir_reread_update(tool: str, tmp_path: Path) -> None:
    if tool == "supervisorctl" and shutil.which("supervisorctl") is None:
        pytest.fail("supervisor 4.3 (a test dependency) is not installed")
    confd = tmp_path / "supervisor.d"
    confd.mkdir()
    d = Daemon(tmp_path, "", extra=f"[include]\nfiles={confd}/*.conf\n").start()
    try:
        assert ctl(tool, d.conf, "reread") == ("No config updates to processes\n", 0)

        app = confd / "node.conf"
        app.write_text("[program:app]\ncommand=/bin/sleep 1000\nstartsecs=0\n")
        assert ctl(tool, d.conf, "reread") == ("app: available\n", 0)
        assert ctl(tool, d.conf, "update") == ("app: added process group\n", 0)
        first = d.wait_state("app", "RUNNING")["pid"]

        other = confd / "worker.conf"
        other.write_text("[program:worker]\ncommand=/bin/sleep 1000\nstartsecs=0\n")
        assert ctl(tool, d.conf, "update") == ("worker: added process group\n", 0)
        worker = d.wait_state("worker", "RUNNING")["pid"]

        app.write_text("[program:app]\ncommand=/bin/sleep 2000\nstartsecs=0\n")
        assert ctl(tool, d.conf, "reread") == ("app: changed\n", 0)
        out, code = ctl(tool, d.conf, "update")
        assert (out, code) == ("app: stopped\napp: updated process group\n", 0)
        second = d.wait_state("app", "RUNNING")["pid"]
        assert second != first
        # only the changed group was touched
        assert d.info("worker")["pid"] == worker

        app.unlink()
        assert ctl(tool, d.conf, "reread") == ("app: disappeared\n", 0)
        assert ctl(tool, d.conf, "update") == ("app: stopped\napp: removed process group\n", 0)
        wait_until(
            lambda: [i["name"] for i in d.rpc.supervisor.getAllProcessInfo()] == ["worker"],
            what="app gone",
        )

        out, code = ctl(tool, d.conf, "status")
        assert code == 0
        assert out.startswith("worker                           RUNNING   pid ")
    finally:
        d.stop()
