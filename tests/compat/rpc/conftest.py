from __future__ import annotations

import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.compat.rpc import calls
from tests.support import env_for_children, kill_session, rpc_proxy, wait_until


@pytest.fixture(scope="module")
def corrald_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    tmp: Path = tmp_path_factory.mktemp("golden")
    conf = tmp / calls.CONFIG_FILE
    conf.write_text(calls.CONFIG.format(tmp=tmp))
    sock = str(tmp / "rpc.sock")
    proc = subprocess.Popen(
        [sys.executable, "-m", "corral.daemon.main", "-c", str(conf)],
        env=env_for_children(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )

    def up() -> bool:
        try:
            rpc_proxy(sock).supervisor.getState()
            return True
        except OSError:
            return False

    wait_until(up, timeout=15, what="corrald up")
    try:
        yield f"unix://{sock}"
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(30)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
            kill_session(proc.pid)
