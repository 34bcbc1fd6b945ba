"""The XML-RPC dispatcher over the wire format: names, arguments, faults, multicall."""

from __future__ import annotations

import asyncio
import json
import xmlrpc.client
from pathlib import Path
from typing import Any

import pytest

from corral.api import make_registry
from corral.api.dispatch import BadRequest, Method, Registry
from corral.wire.states import ProcessState, SupervisorState
from tests.unit.api.standin import Logger, StandInSupervisor, standard

GOLDEN = json.loads((Path(__file__).parents[2] / "compat" / "rpc" / "golden.json").read_text())


def handle(registry: Registry, body: bytes) -> Any:
    out = asyncio.run(registry.handle(body))
    return xmlrpc.client.loads(out.decode())[0][0]


def call(sup: StandInSupervisor, method: str, *params: Any) -> Any:
    return handle(make_registry(sup, Logger()), xmlrpc.client.dumps(params, method).encode())


def fault_of(sup: StandInSupervisor, method: str, *params: Any) -> tuple[int, str]:
    with pytest.raises(xmlrpc.client.Fault) as info:
        call(sup, method, *params)
    return info.value.faultCode, info.value.faultString


@pytest.fixture
def sup(tmp_path: Path) -> StandInSupervisor:
    return standard(str(tmp_path))


@pytest.mark.parametrize(
    "name",
    [
        "a.b.c",
        "supervisor._guard",
        "supervisor.__init__",
        "nosuch.getState",
        "supervisor.nosuch",
        "getState",
        "supervisor.",
        ".getState",
        "system.registry",
    ],
)
def test_only_listed_methods_are_callable(sup: StandInSupervisor, name: str) -> None:
    assert fault_of(sup, name) == (1, "UNKNOWN_METHOD")


def test_wrong_argument_count_or_type_is_incorrect_parameters(sup: StandInSupervisor) -> None:
    assert fault_of(sup, "supervisor.getAPIVersion", 1) == (2, "INCORRECT_PARAMETERS")
    assert fault_of(sup, "supervisor.getProcessInfo") == (2, "INCORRECT_PARAMETERS")
    assert fault_of(sup, "supervisor.getProcessInfo", 5) == (2, "INCORRECT_PARAMETERS")
    assert fault_of(sup, "supervisor.readProcessStdoutLog", "app", "x", 0)[0] == 2
    assert fault_of(sup, "supervisor.sendProcessStdin", "app", 5) == (
        2,
        "INCORRECT_PARAMETERS: 5",
    )


def test_runtime_errors_become_named_faults(sup: StandInSupervisor) -> None:
    assert fault_of(sup, "supervisor.startProcess", "app") == (60, "ALREADY_STARTED: app")
    assert fault_of(sup, "supervisor.startProcess", "app:app") == (60, "ALREADY_STARTED: app:app")
    assert fault_of(sup, "supervisor.getProcessInfo", "grp:*") == (10, "BAD_NAME: grp:*")
    assert fault_of(sup, "supervisor.stopProcess", "grp:g1") == (70, "NOT_RUNNING: grp:g1")
    assert fault_of(sup, "supervisor.signalProcess", "app", "BOGUS") == (11, "BAD_SIGNAL: BOGUS")
    assert fault_of(sup, "supervisor.removeProcessGroup", "app") == (91, "STILL_RUNNING: app")
    assert fault_of(sup, "supervisor.addProcessGroup", "app") == (90, "ALREADY_ADDED: app")
    assert fault_of(sup, "supervisor.clearLog") == (20, "NO_FILE")
    assert fault_of(sup, "supervisor.readProcessStdoutLog", "app", 0, 0) == (20, "NO_FILE")


def test_an_unexpected_exception_is_a_failed_fault_not_a_crash(sup: StandInSupervisor) -> None:
    def broken() -> str:
        raise ZeroDivisionError("boom")

    registry = make_registry(sup, log := Logger())
    registry.add(Method("supervisor.getIdentification", broken, "string"))
    body = xmlrpc.client.dumps((), "supervisor.getIdentification").encode()
    with pytest.raises(xmlrpc.client.Fault) as info:
        handle(registry, body)
    assert info.value.faultCode == 30
    assert info.value.faultString == "FAILED: <class 'ZeroDivisionError'>:boom"
    assert any(level == "ERRO" and "ZeroDivisionError" in msg for level, msg in log.lines)


def test_shutting_down_refuses_supervisor_methods_but_not_remote_events(
    sup: StandInSupervisor,
) -> None:
    sup.state = SupervisorState.SHUTDOWN
    assert fault_of(sup, "supervisor.getState") == (6, "SHUTDOWN_STATE")
    assert fault_of(sup, "supervisor.getAPIVersion") == (6, "SHUTDOWN_STATE")
    assert call(sup, "supervisor.sendRemoteCommEvent", "t", "d") is True
    assert sup.remote == [("t", "d")]
    assert "system.multicall" in call(sup, "system.listMethods")
    sup.state = SupervisorState.RESTARTING
    assert fault_of(sup, "supervisor.getPID") == (6, "SHUTDOWN_STATE")


def test_request_quirks_of_4_3(sup: StandInSupervisor) -> None:
    registry = make_registry(sup)
    no_params = b"<methodCall><methodName>supervisor.getAPIVersion</methodName></methodCall>"
    assert handle(registry, no_params) == "3.0"
    bare_and_i8 = (
        b"<methodCall><methodName>supervisor.getProcessInfo</methodName><params>"
        b"<param><value>app</value></param></params></methodCall>"
    )
    assert handle(registry, bare_and_i8)["name"] == "app"
    for bad in (
        b"not xml",
        b"<methodCall><params/></methodCall>",
        b"<methodCall><methodName></methodName></methodCall>",
        b"<methodCall><methodName>x.y</methodName><params><param><value><int>z</int>"
        b"</value></param></params></methodCall>",
    ):
        with pytest.raises(BadRequest):
            asyncio.run(registry.handle(bad))


def test_i8_arrives_as_text_and_still_serves_as_an_offset(tmp_path: Path) -> None:
    sup = standard(str(tmp_path))
    log = tmp_path / "main.log"
    log.write_bytes(b"hello\n")
    sup.mainlog_path = str(log)
    body = (
        b"<methodCall><methodName>supervisor.readLog</methodName><params>"
        b"<param><value><i8>1</i8></value></param><param><value><i8>3</i8></value></param>"
        b"</params></methodCall>"
    )
    assert handle(make_registry(sup), body) == "ell"


def test_multicall_answers_bare_values_and_fault_structs(sup: StandInSupervisor) -> None:
    calls = [
        {"methodName": "supervisor.getAPIVersion", "params": []},
        {"methodName": "supervisor.getAPIVersion"},
        {"params": []},
        {"methodName": "system.multicall", "params": [[]]},
        {"methodName": "nosuch.method", "params": []},
        {"methodName": "supervisor.getProcessInfo", "params": ["nosuch"]},
        {"methodName": "supervisor.getAPIVersion", "params": [1]},
        {"methodName": "supervisor.stopProcess", "params": ["grp:g1"]},
        {"methodName": "supervisor.getState", "params": []},
    ]
    got = call(sup, "system.multicall", calls)
    want = GOLDEN["cases"]["system.multicall"]["result"]
    want[7] = {"faultCode": 70, "faultString": "NOT_RUNNING: grp:g1"}  # golden stops 'nolog'
    assert got == want
    assert call(sup, "system.multicall", []) == []


def test_every_listed_method_has_help_and_the_4_3_signature(sup: StandInSupervisor) -> None:
    names = call(sup, "system.listMethods")
    # 4.3's names, in its order; corral's own namespace besides (docs/differences.md)
    corral = [n for n in names if n.startswith("corral.")]
    assert corral == [
        "corral.getAllProcessInfo",
        "corral.getExits",
        "corral.getProcessInfo",
        "corral.getStats",
        "corral.health",
        "corral.plan",
        "corral.scale",
        "corral.update",
    ]
    names = [n for n in names if not n.startswith("corral.")]
    assert names == GOLDEN["cases"]["system.listMethods"]["result"]
    for name in names:
        assert call(sup, "system.methodSignature", name) == GOLDEN["signatures"][name]["result"]
        assert call(sup, "system.methodHelp", name).strip()
    assert fault_of(sup, "system.methodHelp", "nosuch.x") == (4, "SIGNATURE_UNSUPPORTED")
    assert fault_of(sup, "system.methodSignature", "a.b.c") == (4, "SIGNATURE_UNSUPPORTED")


def test_group_start_answers_only_for_processes_not_running(sup: StandInSupervisor) -> None:
    _, g2 = sup.find("grp:g2")
    assert g2 is not None
    g2.state = ProcessState.RUNNING
    assert call(sup, "supervisor.startProcess", "grp:*") == [
        {"name": "g1", "group": "grp", "status": 80, "description": "OK"}
    ]
    assert call(sup, "supervisor.startProcessGroup", "grp") == []
    assert fault_of(sup, "supervisor.startProcessGroup", "nosuch") == (10, "BAD_NAME: nosuch")


def test_start_all_goes_by_priority_and_reports_each_failure(sup: StandInSupervisor) -> None:
    got = call(sup, "supervisor.startAllProcesses")
    assert [(r["name"], r["status"]) for r in got] == [("g1", 80), ("g2", 80), ("nofile", 20)]
    assert got[2]["description"] == "NO_FILE: can't find command '/nonexistent'"
    stopped = call(sup, "supervisor.stopAllProcesses", True)
    assert [r["name"] for r in stopped] == ["g1", "g2", "app"]


def test_signal_and_stdin_reach_the_runtime(sup: StandInSupervisor) -> None:
    assert call(sup, "supervisor.signalProcess", "app", "hup") is True
    assert call(sup, "supervisor.signalProcess", "app", 10) is True
    assert sup.signals == [("app", 1), ("app", 10)]
    assert call(sup, "supervisor.sendProcessStdin", "app", "héllo\n") is True
    _, app = sup.find("app")
    assert app is not None and bytes(app.stdin) == "héllo\n".encode()
    assert fault_of(sup, "supervisor.sendProcessStdin", "grp:g1", "x") == (
        70,
        "NOT_RUNNING: grp:g1",
    )


def test_clear_all_logs_reports_per_process(sup: StandInSupervisor) -> None:
    got = call(sup, "supervisor.clearAllProcessLogs")
    assert [(r["group"], r["name"], r["status"]) for r in got] == [
        ("grp", "g1", 80),
        ("grp", "g2", 80),
        ("app", "app", 80),
        ("nofile", "nofile", 80),
    ]


def test_reload_add_remove(sup: StandInSupervisor) -> None:
    _, app = sup.find("app")
    assert app is not None
    app.state = ProcessState.STOPPED
    assert call(sup, "supervisor.removeProcessGroup", "app") is True
    assert call(sup, "supervisor.reloadConfig") == [[["app"], [], []]]
    assert call(sup, "supervisor.addProcessGroup", "app") is True
    assert fault_of(sup, "supervisor.addProcessGroup", "zzz") == (10, "BAD_NAME: zzz")
    assert call(sup, "supervisor.shutdown") is True and sup.moods == ["shutdown"]
