"""Record golden.json from the real supervisord 4.3 (run by hand; the JSON is committed).

    PYTHONPATH=src python tests/compat/rpc/record_golden.py

Starts supervisord with calls.CONFIG in a temp dir, makes every call of calls.CASES and
calls.RAW, then asks it to shut down and makes calls.SHUTDOWN_CASES while it stops.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parent))

import calls

HERE = Path(__file__).parent


def wait_for(predicate: Any, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise TimeoutError("supervisord did not come up")
        time.sleep(0.05)


def record(supervisord: str) -> dict[str, Any]:
    tmp = tempfile.mkdtemp(prefix="corral-golden-")
    conf = Path(tmp, calls.CONFIG_FILE)
    conf.write_text(calls.CONFIG.format(tmp=tmp))
    sock = os.path.join(tmp, "rpc.sock")
    proc = subprocess.Popen([supervisord, "-c", str(conf)], cwd=tmp)
    try:
        proxy = calls.proxy_for(sock)

        def ready() -> bool:
            if not os.path.exists(sock):
                return False
            try:
                infos = proxy.supervisor.getAllProcessInfo()
            except OSError:
                return False
            running = {i["name"] for i in infos if i["statename"] == "RUNNING"}
            return running >= calls.AUTOSTARTED

        wait_for(ready)
        wait_for(lambda: Path(tmp, "echo.err").read_bytes() == b"oops\n")
        out: dict[str, Any] = {"cases": {}, "signatures": {}, "help": {}, "raw": {}, "shutdown": {}}
        for key, method, params in calls.CASES:
            out["cases"][key] = calls.call(proxy, method, params, tmp)
        for name in proxy.system.listMethods():
            out["signatures"][name] = calls.call(proxy, "system.methodSignature", [name], tmp)
            # The texts are 4.3's docstrings: only their shape is kept, never the words.
            help_ = calls.call(proxy, "system.methodHelp", [name], tmp)
            out["help"][name] = calls.help_shape(help_)
        for key, method, path, body in calls.RAW:
            out["raw"][key] = calls.raw_case(sock, method, path, body)
        proxy.supervisor.shutdown()
        for key, method, params in calls.SHUTDOWN_CASES:
            out["shutdown"][key] = calls.call(proxy, method, params, tmp)
        proc.wait(timeout=30)
        return out
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        shutil.rmtree(tmp, ignore_errors=True)


def main() -> None:
    supervisord = shutil.which("supervisord")
    if supervisord is None:
        sys.exit("supervisord 4.3 is not on PATH (pip install supervisor==4.3.0)")
    out = record(supervisord)
    path = HERE / "golden.json"
    path.write_text(json.dumps(out, indent=1, sort_keys=False) + "\n")
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
