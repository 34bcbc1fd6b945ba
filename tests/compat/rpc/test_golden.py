"""corrald answers every recorded call as supervisord 4.3 did (golden.json).

Needs the fixture `corrald_url` (from the compat conftest): the URL `unix://<dir>/rpc.sock`
of a corrald started with `calls.CONFIG.format(tmp=<dir>)`, fresh for this module. The
last test asks it to shut down.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).parent))

import calls

GOLDEN = json.loads((Path(__file__).parent / "golden.json").read_text())

# Where corral answers differently on purpose (see docs/differences.md): key -> answer.
KNOWN_DIFFERENCES: dict[str, Any] = {
    # 4.3 crashes into an HTTP 500 on a non-string name; corral checks argument types.
    "getProcessInfo int": {"fault": [2, "INCORRECT_PARAMETERS"]},
}

pytestmark = pytest.mark.compat


def socket_of(url: str) -> tuple[str, str]:
    assert url.startswith("unix://"), url
    path = url[len("unix://") :]
    return path, str(Path(path).parent)


def wait_ready(sock: str, tmp: str) -> None:
    deadline = time.monotonic() + 20
    want = {"app", "echo", "g1", "stubborn"}
    while True:
        try:
            with calls.proxy_for(sock) as proxy:
                infos = proxy.supervisor.getAllProcessInfo()
            running = {i["name"] for i in infos if i["statename"] == "RUNNING"}
            err = Path(tmp, "echo.err")
            if want <= running and err.exists() and err.read_bytes() == b"oops\n":
                return
        except OSError:
            pass
        assert time.monotonic() < deadline, "corrald did not start the programs"
        time.sleep(0.05)


def compare(section: str, got: dict[str, Any]) -> list[str]:
    diffs = []
    for key, answer in got.items():
        want = KNOWN_DIFFERENCES.get(key, GOLDEN[section][key])
        if answer != want:
            diffs.append(f"{section}[{key!r}]:\n  corrald: {answer!r}\n  4.3:     {want!r}")
    return diffs


def test_every_call_answers_as_4_3(corrald_url: str) -> None:
    sock, tmp = socket_of(corrald_url)
    wait_ready(sock, tmp)
    got: dict[str, dict[str, Any]] = {"cases": {}, "signatures": {}, "raw": {}}
    with calls.proxy_for(sock) as proxy:
        for key, method, params in calls.CASES:
            got["cases"][key] = calls.call(proxy, method, params, tmp)
        for name in GOLDEN["signatures"]:
            got["signatures"][name] = calls.call(proxy, "system.methodSignature", [name], tmp)
    for key, method, path, body in calls.RAW:
        got["raw"][key] = calls.raw_case(sock, method, path, body)
    diffs = [d for section, answers in got.items() for d in compare(section, answers)]
    assert diffs == [], "\n".join(diffs)


def test_while_shutting_down_only_remote_events_are_served(corrald_url: str) -> None:
    sock, tmp = socket_of(corrald_url)
    got: dict[str, Any] = {}
    with calls.proxy_for(sock) as proxy:
        assert proxy.supervisor.shutdown() is True
        # 'stubborn' ignores SIGTERM for stopwaitsecs=4: the daemon is shutting down meanwhile.
        for key, method, params in calls.SHUTDOWN_CASES:
            got[key] = calls.call(proxy, method, params, tmp)
    diffs = compare("shutdown", got)
    assert diffs == [], "\n".join(diffs)
