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


def _resolved_auto_logs(want: Any, got: Any) -> Any:
    """4.3's answer, with the AUTO log paths of processes in use as corral resolves them.

    After a reread 4.3 describes every group from the freshly parsed config, where AUTO is
    not resolved yet, so a group left running shows 'auto'; corral shows the path the
    running process writes to (docs/differences.md, HTTP and XML-RPC).
    """
    fixed = json.loads(json.dumps(want))
    for entry, live in zip(fixed["result"], got.get("result", []), strict=False):
        for key in ("stdout_logfile", "stderr_logfile"):
            auto = f"<tmp>/{entry['name']}-{key[:6]}---golden-<random>.log"
            if entry["inuse"] and entry[key] == "auto" and live.get(key) == auto:
                entry[key] = auto
    return fixed


def _slow_last(want: Any, got: Any) -> Any:
    """4.3's order among stops that end together varies from run to run (it is the order
    its polling pass saw them end in); what is fixed is that the slow one, SIGKILLed after
    stopwaitsecs, comes last. Same set of results, 'stubborn' last."""
    results = got.get("result")
    if isinstance(results, list) and results and results[-1].get("name") == "stubborn":
        key = json.dumps
        if sorted(map(key, results)) == sorted(map(key, want["result"])):
            return got
    return want


# Where corral answers differently, key -> the answer corral must give instead of 4.3's
# (a value, or a function of 4.3's answer and corral's). Each says why.
KNOWN_DIFFERENCES: dict[str, Any] = {
    # On purpose (docs/differences.md): 4.3 crashes into an HTTP 500 on a non-string name;
    # corral checks argument types.
    "getProcessInfo int": {"fault": [2, "INCORRECT_PARAMETERS"]},
    # On purpose (docs/differences.md): clearLog on a main log deleted from disk creates it
    # afresh; 4.3 answers NO_FILE and goes on writing into the deleted file until restart.
    "clearLog no file": {"result": True},
    # On purpose: AUTO log paths of running groups after a reread (see the function).
    "getAllConfigInfo after reread": _resolved_auto_logs,
    "getAllConfigInfo after update": _resolved_auto_logs,
    # Not a difference: 4.3 itself is not deterministic here (see the function).
    "stopAllProcesses": _slow_last,
}


def expected(section: str, key: str, got: Any) -> Any:
    want = GOLDEN[section][key]
    known = KNOWN_DIFFERENCES.get(key) if section == "cases" else None
    if callable(known):
        return known(want, got)
    return want if known is None else known


pytestmark = pytest.mark.compat


def socket_of(url: str) -> tuple[str, str]:
    assert url.startswith("unix://"), url
    path = url[len("unix://") :]
    return path, str(Path(path).parent)


def wait_ready(sock: str, tmp: str) -> None:
    deadline = time.monotonic() + 20
    want = calls.AUTOSTARTED
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


def leaf_diffs(path: str, got: Any, want: Any) -> list[str]:
    """Where two answers differ, down to the leaves (a short message for a long struct)."""
    if isinstance(got, dict) and isinstance(want, dict) and got.keys() == want.keys():
        return [d for k in want for d in leaf_diffs(f"{path}[{k!r}]", got[k], want[k])]
    if isinstance(got, list) and isinstance(want, list) and len(got) == len(want):
        pairs = enumerate(zip(got, want, strict=True))
        return [d for i, (g, w) in pairs for d in leaf_diffs(f"{path}[{i}]", g, w)]
    if got == want:
        return []
    return [f"{path}:\n  corrald: {got!r}\n  4.3:     {want!r}"]


def without_corral_methods(key: str, answer: Any) -> Any:
    """Deliberately different: system.listMethods lists corral's own namespace too (issue
    9). 4.3's names are all there, in 4.3's order; corral's are only ever added."""
    if not key.endswith("system.listMethods") or not isinstance(answer, dict):
        return answer
    listed = answer.get("result")
    if not isinstance(listed, list) or "system.listMethods" not in listed:
        return answer  # the method's signature or help, not its answer
    assert {"corral.getProcessInfo", "corral.getAllProcessInfo"} <= set(listed)
    return {**answer, "result": [m for m in listed if not m.startswith("corral.")]}


def compare(section: str, got: dict[str, Any]) -> list[str]:
    diffs = []
    for key, answer in got.items():
        answer = without_corral_methods(key, answer)
        diffs += leaf_diffs(f"{section}[{key!r}]", answer, expected(section, key, answer))
    return diffs


def test_every_call_answers_as_4_3(corrald_url: str) -> None:
    sock, tmp = socket_of(corrald_url)
    wait_ready(sock, tmp)
    got: dict[str, dict[str, Any]] = {"cases": {}, "signatures": {}, "help": {}, "raw": {}}
    with calls.proxy_for(sock) as proxy:
        for key, method, params in calls.CASES:
            got["cases"][key] = calls.call(proxy, method, params, tmp)
        for name in GOLDEN["signatures"]:
            got["signatures"][name] = calls.call(proxy, "system.methodSignature", [name], tmp)
            # Deliberately different: methodHelp texts are corral's own words (4.3's are its
            # docstrings, which corral does not copy); only the shape, a non-empty string, is
            # compared (docs/differences.md).
            help_ = calls.call(proxy, "system.methodHelp", [name], tmp)
            got["help"][name] = calls.help_shape(help_)
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


def test_cant_reread_text_is_4_3s(tmp_path: Path) -> None:
    from corral.config import ConfigError, load

    conf = tmp_path / calls.CONFIG_FILE
    conf.write_text(calls.BROKEN_CONFIG)
    with pytest.raises(ConfigError) as err:
        load(str(conf))
    want = GOLDEN["cases"]["reloadConfig broken"]["fault"][1]
    assert "CANT_REREAD: " + str(err.value).replace(str(tmp_path), "<tmp>") == want
