"""Text that supervisorctl prints, byte for byte: status tables, result lines, avail rows."""

from __future__ import annotations

from corral.wire.faults import FaultCode
from corral.wire.names import make_namespec

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping, Sequence
    from typing import Any

    Info = Mapping[str, Any]

MIN_NAME_WIDTH = 30


def namespec_of(info: Info) -> str:
    return make_namespec(str(info["group"]), str(info["name"]))


def status_lines(infos: Sequence[Info]) -> list[str]:
    """One line per process: namespec padded to max(30, longest)+3, state to 10, description."""
    if not infos:
        return []
    names = [namespec_of(info) for info in infos]
    width = max(MIN_NAME_WIDTH, *(len(n) for n in names)) + 3
    return [
        f"{name:<{width}}{info['statename']:<10}{info['description']}"
        for name, info in zip(names, infos, strict=True)
    ]


class UnknownResult(ValueError):
    """A result code the command has no wording for (supervisorctl raises here too)."""

    def __init__(self, code: int, name: str) -> None:
        super().__init__(f"Unknown result code {code} for {name}")


def _result_line(result: Info, words: Mapping[int, str], raw: frozenset[int] = frozenset()) -> str:
    name = make_namespec(str(result["group"]), str(result["name"]))
    code = int(result["status"])
    if code in raw:
        return str(result["description"])
    word = words.get(code)
    if word is None:
        raise UnknownResult(code, name)
    if code == FaultCode.SUCCESS:
        return f"{name}: {word}"
    return f"{name}: ERROR ({word})"


_START_WORDS: dict[int, str] = {
    FaultCode.BAD_NAME: "no such process",
    FaultCode.NO_FILE: "no such file",
    FaultCode.NOT_EXECUTABLE: "file is not executable",
    FaultCode.ALREADY_STARTED: "already started",
    FaultCode.SPAWN_ERROR: "spawn error",
    FaultCode.ABNORMAL_TERMINATION: "abnormal termination",
    FaultCode.SUCCESS: "started",
}
_STOP_WORDS: dict[int, str] = {
    FaultCode.BAD_NAME: "no such process",
    FaultCode.NOT_RUNNING: "not running",
    FaultCode.SUCCESS: "stopped",
}
_SIGNAL_WORDS: dict[int, str] = {
    FaultCode.BAD_NAME: "no such process",
    FaultCode.BAD_SIGNAL: "bad signal name",
    FaultCode.NOT_RUNNING: "not running",
    FaultCode.SUCCESS: "signalled",
}
_CLEAR_WORDS: dict[int, str] = {
    FaultCode.BAD_NAME: "no such process",
    FaultCode.FAILED: "failed",
    FaultCode.SUCCESS: "cleared",
}
# FAILED faults carry their own text (e.g. "FAILED: <name> is in an unknown state").
_RAW_FAILED = frozenset({int(FaultCode.FAILED)})


def start_result(result: Info) -> str:
    return _result_line(result, _START_WORDS)


def stop_result(result: Info) -> str:
    return _result_line(result, _STOP_WORDS, _RAW_FAILED)


def signal_result(result: Info) -> str:
    return _result_line(result, _SIGNAL_WORDS, _RAW_FAILED)


def clear_result(result: Info) -> str:
    return _result_line(result, _CLEAR_WORDS)


def fault_result(name: str, code: int, text: str) -> dict[str, Any]:
    """A result struct for a single-process call that raised a fault.

    The group/name split is the namespec's, so `grp:*` renders as `grp:None` (as upstream).
    """
    group, sep, process = name.partition(":")
    if not sep:
        proc: str | None = name
    elif process in ("", "*"):
        proc = None
    else:
        proc = process
    return {"group": group, "name": str(proc), "status": code, "description": text}


def avail_lines(configs: Iterable[Info]) -> list[str]:
    lines = []
    for conf in configs:
        name = make_namespec(str(conf["group"]), str(conf["name"]))
        inuse = "in use" if conf["inuse"] else "avail"
        auto = "auto" if conf["autostart"] else "manual"
        prio = f"{conf['group_prio']}:{conf['process_prio']}"
        lines.append(f"{name:<32} {inuse:<9} {auto:<9} {prio}")
    return lines


def change_lines(added: Sequence[str], changed: Sequence[str], removed: Sequence[str]) -> list[str]:
    """`reread` output: every group with its change, sorted by name."""
    kinds: dict[str, str] = {}
    for names, word in ((added, "available"), (changed, "changed"), (removed, "disappeared")):
        for name in names:
            kinds[name] = word
    if not kinds:
        return ["No config updates to processes"]
    return [f"{name}: {kinds[name]}" for name in sorted(kinds)]
