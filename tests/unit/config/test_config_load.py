"""Valid configs: defaults, expansions, includes, numprocs naming, groups, warnings."""

from __future__ import annotations

import os
import platform
import signal
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from corral.config import AUTO, Config, ConfigError, find_config_file, load
from corral.config.model import AutoRestart, GroupKind, ProcessConfig

ENV = {"HOME": "/home/tester", "PATH": "/usr/bin:/bin"}
Write = Callable[..., str]


def _load(write: Write, text: str, **kw: object) -> Config:
    return load(write(text), environ=kw.pop("environ", ENV), **kw)  # type: ignore[arg-type]


def _proc(cfg: Config, group: str, index: int = 0) -> ProcessConfig:
    found = cfg.group(group)
    assert found is not None
    return found.processes[index]


def test_supervisord_defaults(
    write: Write,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.chdir(tmp_path)
    sd = _load(write, "[supervisord]\n").supervisord
    assert sd.logfile == str(tmp_path / "supervisord.log")
    assert sd.pidfile == str(tmp_path / "supervisord.pid")
    assert (sd.logfile_maxbytes, sd.logfile_backups, sd.loglevel) == (50 * 1024**2, 10, "info")
    assert (sd.umask, sd.nodaemon, sd.silent, sd.nocleanup) == (0o22, False, False, False)
    assert (sd.minfds, sd.minprocs, sd.strip_ansi) == (1024, 200, False)
    assert sd.childlogdir == tempfile.gettempdir()
    assert (sd.user, sd.uid, sd.directory, sd.environment) == (None, None, None, ())
    assert sd.identifier == "supervisor"


def test_overrides_beat_file(write: Write) -> None:
    cfg = load(
        write("[supervisord]\nnodaemon=false\nloglevel=warn\n"),
        overrides={"nodaemon": "true", "user": "root"},
        environ=ENV,
    )
    assert cfg.supervisord.nodaemon is True
    assert cfg.supervisord.loglevel == "warn"
    assert (cfg.supervisord.user, cfg.supervisord.uid) == ("root", 0)


def test_program_defaults(write: Write) -> None:
    cfg = _load(write, "[supervisord]\n[program:app]\ncommand=/bin/cat\n")
    group = cfg.group("app")
    assert group is not None and group.kind is GroupKind.PROGRAM and group.priority == 999
    p = group.processes[0]
    assert (p.name, p.program, p.command, p.process_num, p.numprocs) == (
        "app",
        "app",
        "/bin/cat",
        0,
        1,
    )
    assert (p.autostart, p.startsecs, p.startretries) == (True, 1, 3)
    assert p.autorestart is AutoRestart.UNEXPECTED
    assert (p.exitcodes, p.stopsignal, p.stopwaitsecs) == ((0,), signal.SIGTERM, 10)
    assert (p.stopasgroup, p.killasgroup, p.redirect_stderr) == (False, False, False)
    assert (p.user, p.uid, p.umask, p.directory, p.serverurl) == (None, None, None, None, AUTO)
    for ch in (p.stdout, p.stderr):
        assert (ch.logfile, ch.maxbytes, ch.backups) == (AUTO, 50 * 1024**2, 10)
        assert (ch.capture_maxbytes, ch.events_enabled, ch.syslog) == (0, False, False)
    assert cfg.warnings == ()


def test_killasgroup_follows_stopasgroup(write: Write) -> None:
    p = _proc(_load(write, "[supervisord]\n[program:a]\ncommand=c\nstopasgroup=true\n"), "a")
    assert (p.stopasgroup, p.killasgroup) == (True, True)


def test_seed_program_app(write: Write, tmp_path: Path) -> None:
    """The [program:app] of /work/shared/seed, with its log dir moved under tmp_path."""
    log = tmp_path / "srv" / "log"
    log.mkdir(parents=True)
    cfg = _load(
        write,
        f"""
        [supervisord]
        [program:app]
        command=/opt/node/bin/npm start
        environment=PATH="/usr/local/bin:/usr/bin:/bin:/usr/local/games:/usr/games:/opt/node/bin"
        directory=/srv/app
        autostart=true
        autorestart=true
        stdout_logfile={log}/node.log
        stdout_logfile_maxbytes=2MB
        stdout_logfile_backups=5
        redirect_stderr=true
        """,
    )
    p = _proc(cfg, "app")
    assert p.command == "/opt/node/bin/npm start"
    assert p.environment == (
        ("PATH", "/usr/local/bin:/usr/bin:/bin:/usr/local/games:/usr/games:/opt/node/bin"),
    )
    assert p.directory == "/srv/app"
    assert p.autostart is True and p.autorestart is AutoRestart.ALWAYS
    assert p.stdout.logfile == f"{log}/node.log"
    assert (p.stdout.maxbytes, p.stdout.backups) == (2 * 1024 * 1024, 5)
    assert p.redirect_stderr is True and p.stderr.logfile is None
    assert cfg.warnings == ()


def test_expansions_everywhere(write: Write, tmp_path: Path) -> None:
    cfg = _load(
        write,
        """
        [supervisord]
        environment=EXTRA="from-sd",NODE="%(host_node_name)s"
        identifier=id-%(ENV_HOME)s
        [program:w]
        command=run %(program_name)s %(group_name)s %(process_num)02d/%(numprocs)d %(here)s
        process_name=%(program_name)s_%(process_num)02d
        numprocs=2
        numprocs_start=1
        environment=OWN="own-%(process_num)d"
        directory=/d/%(ENV_OWN)s/%(ENV_EXTRA)s/%(host_node_name)s
        stdout_logfile=%(here)s/%(ENV_OWN)s.log
        serverurl=%(ENV_HOME)s 100%%
        """,
    )
    assert cfg.supervisord.identifier == "id-/home/tester"
    assert dict(cfg.supervisord.environment)["NODE"] == platform.node()
    w = cfg.group("w")
    assert w is not None
    assert [p.name for p in w.processes] == ["w_01", "w_02"]
    p = w.processes[1]
    assert p.command == f"run w w 02/2 {tmp_path}"
    assert p.directory == f"/d/own-2/from-sd/{platform.node()}"
    assert p.stdout.logfile == f"{tmp_path}/own-2.log"
    assert p.serverurl == "/home/tester 100%"


def test_group_name_expands_to_heterogeneous_group(write: Write) -> None:
    cfg = _load(
        write,
        """
        [supervisord]
        [program:a]
        command=run %(group_name)s
        [group:g]
        programs=a
        """,
    )
    assert _proc(cfg, "g").command == "run g"


def test_here_is_the_including_files_dir(write: Write, tmp_path: Path) -> None:
    write("[program:inc]\ncommand=%(here)s/bin\n", name="conf.d/inc.conf")
    cfg = _load(write, "[supervisord]\n[include]\nfiles=conf.d/*.conf\n")
    assert _proc(cfg, "inc").command == f"{tmp_path}/conf.d/bin"


def test_bare_percent_s_is_the_names_dict(write: Write) -> None:
    cmd = _proc(_load(write, "[supervisord]\n[program:a]\ncommand=x %s\n"), "a").command
    assert cmd.startswith("x {") and "'program_name': 'a'" in cmd


def test_includes_sorted_relative_and_warned(write: Write, tmp_path: Path) -> None:
    b = write("[program:b]\ncommand=b\n", name="conf.d/b.conf")
    a = write("[program:a]\ncommand=a\n[include]\nfiles=nested/*.conf\n", name="conf.d/a.conf")
    write("[program:nested]\ncommand=n\n", name="conf.d/nested/n.conf")
    main = write("""
        [supervisord]
        [include]
        files = conf.d/*.conf
            missing/*.ini
        """)
    cfg = load(main, environ=ENV)
    assert cfg.files == (main, a, b)
    assert {g.name for g in cfg.groups} == {"a", "b"}  # includes do not nest
    assert [(w.level, w.message) for w in cfg.warnings] == [
        ("info", f'Included extra file "{a}" during parsing'),
        ("info", f'Included extra file "{b}" during parsing'),
        ("warn", f'No file matches via include "{tmp_path}/missing/*.ini"'),
    ]


def test_duplicate_sections_merge_later_key_wins(write: Write) -> None:
    write("[program:a]\nstartsecs=9\n", name="conf.d/more.conf")
    cfg = _load(
        write,
        """
        [supervisord]
        [program:a]
        command=c
        startsecs=5
        autostart=false
        [include]
        files=conf.d/more.conf
        """,
    )
    p = _proc(cfg, "a")
    assert (p.startsecs, p.autostart) == (9, False)


def test_numprocs_naming_and_group_address(write: Write) -> None:
    cfg = _load(
        write,
        """
        [supervisord]
        [program:worker]
        command=w
        process_name=worker_%(process_num)02d
        numprocs=3
        """,
    )
    g = cfg.group("worker")
    assert g is not None
    assert [(p.name, p.process_num) for p in g.processes] == [
        ("worker_00", 0),
        ("worker_01", 1),
        ("worker_02", 2),
    ]


def test_heterogeneous_groups(write: Write) -> None:
    cfg = _load(
        write,
        """
        [supervisord]
        [program:a]
        command=a
        priority=5
        [program:b]
        command=b
        priority=1
        [program:solo]
        command=s
        priority=2000
        [group:one]
        programs=a,b
        priority=10
        [group:two]
        programs=a
        [group:empty]
        """,
    )
    names = [g.name for g in cfg.groups]
    assert names == ["one", "empty", "two", "solo"]  # (priority, name); members not own groups
    one = cfg.group("one")
    assert one is not None and one.kind is GroupKind.HETEROGENEOUS
    assert [p.name for p in one.processes] == ["b", "a"]  # by priority
    two = cfg.group("two")
    assert two is not None and [p.name for p in two.processes] == ["a"]  # instantiated twice
    # which 4.3 does silently; we warn
    assert any("[program:a] is a member of more than one group" in w.message for w in cfg.warnings)


def test_eventlistener_and_fcgi(write: Write) -> None:
    cfg = _load(
        write,
        """
        [supervisord]
        [eventlistener:lis]
        command=l
        events=process_state,TICK_60
        buffer_size=3
        [fcgi-program:web]
        command=w
        socket=unix:///tmp/%(program_name)s.sock
        socket_mode=0660
        socket_owner=root:root
        [fcgi-program:tcp]
        command=t
        socket=tcp://127.0.0.1:9002
        socket_backlog=20
        """,
    )
    lis = cfg.group("lis")
    assert lis is not None and lis.kind is GroupKind.EVENTLISTENER
    assert lis.priority == -1 and lis.processes[0].priority == -1
    assert lis.listener is not None
    assert lis.listener.events == ("PROCESS_STATE", "TICK_60")
    assert lis.listener.buffer_size == 3
    assert lis.listener.result_handler == "supervisor.dispatchers:default_handler"
    web = cfg.group("web")
    assert web is not None and web.kind is GroupKind.FCGI and web.fcgi_socket is not None
    sock = web.fcgi_socket
    assert (sock.family, sock.path, sock.mode, sock.owner) == (
        "unix",
        "/tmp/web.sock",
        0o660,
        (0, 0),
    )
    tcp = cfg.group("tcp")
    assert tcp is not None and tcp.fcgi_socket is not None
    assert (tcp.fcgi_socket.host, tcp.fcgi_socket.port, tcp.fcgi_socket.backlog) == (
        "127.0.0.1",
        9002,
        20,
    )
    assert tcp.fcgi_socket.mode is None


def test_servers_ctl_and_rpcinterface(write: Write, tmp_path: Path) -> None:
    cfg = _load(
        write,
        """
        [supervisord]
        [unix_http_server]
        file=%(here)s/s.sock
        chmod=0770
        chown=root:root
        username=u
        password={SHA}abc
        [inet_http_server]
        port=*:9001
        [inet_http_server:two]
        port=9002
        [supervisorctl]
        serverurl=unix://%(here)s//s.sock
        prompt=%(ENV_HOME)s
        [rpcinterface:supervisor]
        supervisor.rpcinterface_factory = supervisor.rpcinterface:make_main_rpcinterface
        retries = %(ENV_HOME)s
        """,
    )
    (unix,) = cfg.unix_servers
    assert (unix.file, unix.chmod, unix.chown) == (f"{tmp_path}/s.sock", 0o770, (0, 0))
    assert (unix.username, unix.password) == ("u", "{SHA}abc")
    assert [(s.section, s.host, s.port) for s in cfg.inet_servers] == [
        ("inet_http_server", "", 9001),
        ("inet_http_server:two", "", 9002),
    ]
    assert cfg.ctl is not None
    assert (cfg.ctl.serverurl, cfg.ctl.prompt) == (f"unix://{tmp_path}/s.sock", "/home/tester")
    (rpc,) = cfg.rpcinterfaces
    assert (rpc.name, rpc.factory) == (
        "supervisor",
        "supervisor.rpcinterface:make_main_rpcinterface",
    )
    assert rpc.kwargs == (("retries", "/home/tester"),)


def test_plugin_sections_are_warned_about_by_name(write: Write) -> None:
    main = "supervisor.rpcinterface:make_main_rpcinterface"
    path = write(f"""
        [supervisord]
        [rpcinterface:supervisor]
        supervisor.rpcinterface_factory = {main}
        [rpcinterface:twiddler]
        supervisor.rpcinterface_factory = supervisor_twiddler.rpcinterface:make_twiddler
        [rpcinterface:again]
        supervisor.rpcinterface_factory = {main}
        [ctlplugin:quick]
        supervisor.ctl_factory = supervisor_quick:make_quick_controllerplugin
        """)
    cfg = load(path, environ=ENV)
    # the plugin need not be importable: corral never loads it, so it only says so
    assert [r.name for r in cfg.rpcinterfaces] == ["supervisor", "twiddler", "again"]
    assert [(w.level, w.message) for w in cfg.warnings] == [
        (
            "warn",
            "[rpcinterface:twiddler] is ignored: corral does not load RPC interface plugins "
            f"(file: {path!r}, line: 4)",
        ),
        (
            "warn",
            "[rpcinterface:again] is ignored: corral serves Supervisor's main interface as the "
            f"supervisor namespace only (file: {path!r}, line: 6)",
        ),
        (
            "warn",
            "[ctlplugin:quick] is ignored: corralctl does not load supervisorctl plugins "
            f"(file: {path!r}, line: 8)",
        ),
    ]


def test_the_main_rpcinterface_alone_is_not_warned_about(write: Write) -> None:
    path = write("""
        [supervisord]
        [rpcinterface:supervisor]
        supervisor.rpcinterface_factory = supervisor.rpcinterface:make_main_rpcinterface
        """)
    assert load(path, environ=ENV).warnings == ()


def test_unknown_keys_and_sections_kept_and_warned(write: Write) -> None:
    path = write(
        "[supervisord]\n[program:x]\ncommand=c\nRequires=db\n"
        "dependent_startup=true\n[weird:thing]\na=1\n"
    )
    cfg = load(path, environ=ENV)
    assert _proc(cfg, "x").extra == (("requires", "db"), ("dependent_startup", "true"))
    # a plugin's key (supervisord-dependent-startup) is kept for it without a warning
    assert [w.message for w in cfg.warnings] == [
        f"unknown section 'weird:thing' (file: '{path}', line: 6), ignored",
        f"unknown option 'requires' in section 'program:x' (file: '{path}', line: 4), ignored",
    ]


def test_log_warnings(write: Write, tmp_path: Path) -> None:
    cfg = _load(
        write,
        f"""
        [supervisord]
        [program:x]
        command=c
        stdout_logfile_maxbytes=0
        redirect_stderr=true
        stderr_logfile={tmp_path}/err.log
        [program:y]
        command=c
        stdout_logfile=syslog
        """,
    )
    assert [w.message for w in cfg.warnings] == [
        "For [program:x], redirect_stderr=true but stderr_logfile has also been set to a "
        "filename, the filename has been ignored",
        "For [program:x], AUTO logging used for stdout_logfile without rollover, set maxbytes "
        "> 0 to avoid filling up filesystem unintentionally",
        "For [program:y], stdout_logfile=syslog but this is deprecated and will be removed.  "
        "Use stdout_syslog=true to enable syslog instead.",
    ]
    x, y = _proc(cfg, "x"), _proc(cfg, "y")
    assert x.stderr.logfile is None
    assert (y.stdout.logfile, y.stdout.syslog) == (None, True)


def test_default_section_applies_to_every_program(write: Write) -> None:
    cfg = _load(
        write,
        """
        [DEFAULT]
        startsecs=7
        [supervisord]
        [program:a]
        command=a
        [program:b]
        command=b
        startsecs=2
        """,
    )
    assert (_proc(cfg, "a").startsecs, _proc(cfg, "b").startsecs) == (7, 2)
    assert cfg.warnings == ()  # [DEFAULT] keys are not "unknown" in [supervisord]


def test_find_config_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "etc").mkdir()
    (tmp_path / "etc" / "supervisord.conf").write_text("[supervisord]\n")
    argv0 = str(tmp_path / "venv" / "bin" / "supervisord")
    assert find_config_file(argv0) == "etc/supervisord.conf"
    (tmp_path / "venv" / "etc").mkdir(parents=True)
    (tmp_path / "venv" / "etc" / "supervisord.conf").write_text("[supervisord]\n")
    assert find_config_file(argv0) == str(tmp_path / "venv" / "etc" / "supervisord.conf")


def test_thousand_programs_load_fast(write: Write) -> None:
    body = "".join(
        f"[program:p{i}]\ncommand=/bin/sleep {i} %(program_name)s\npriority={i % 7}\n"
        f'environment=A="{i}",B=x\n'
        for i in range(1000)
    )
    path = write("[supervisord]\n" + body)
    # CPU time, not wall-clock: other processes on a loaded machine do not count against it
    start = time.process_time()
    cfg = load(path, environ=ENV)
    assert time.process_time() - start < 0.5
    assert len(cfg.groups) == 1000
    assert cfg.groups[0].priority == 0 and cfg.groups[-1].priority == 6


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as info:
        load(str(tmp_path / "nope.conf"), environ=ENV)
    assert info.value.file == str(tmp_path / "nope.conf")


def test_paths_are_absolute(
    write: Write,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.chdir(tmp_path)
    os.mkdir(tmp_path / "logs")
    cfg = _load(
        write,
        "[supervisord]\nlogfile=logs/sd.log\n[program:a]\ncommand=a\nstdout_logfile=logs/a.log\n",
    )
    assert cfg.supervisord.logfile == str(tmp_path / "logs" / "sd.log")
    assert _proc(cfg, "a").stdout.logfile == str(tmp_path / "logs" / "a.log")
    assert cfg.path == str(tmp_path / "supervisord.conf")


def test_expects_is_the_one_rule_for_an_expected_exit(write: Write) -> None:
    cfg = _load(
        write,
        "[supervisord]\n[program:a]\ncommand=c\n[program:b]\ncommand=c\nexitcodes=2,255\n"
        "[program:c]\ncommand=c\nexitcodes=\n",
    )
    a, b, c = (_proc(cfg, name) for name in "abc")
    assert (a.expects(0), a.expects(1), a.expects(-1)) == (True, False, False)
    assert (b.expects(0), b.expects(2), b.expects(255)) == (False, True, True)
    assert not b.expects(-1)  # a death by signal is never expected
    assert not any(c.expects(code) for code in (0, 1, -1))
