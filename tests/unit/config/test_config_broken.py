"""Broken configs -> Supervisor's message, plus the file and line that hold the mistake."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from corral.config import ConfigError, load

ENV = {"HOME": "/home/tester", "PATH": "/usr/bin:/bin"}

FIXTURES = Path(__file__).parents[2] / "fixtures" / "configs" / "broken"

# (id, config text, message substring, line, section or None). Line 1 is "[supervisord]".
CASES = [
    (
        "no-command",
        "[program:x]\nautostart=false\n",
        "program section program:x does not specify a command",
        2,
        "program:x",
    ),
    (
        "numprocs-no-process-num",
        "[program:x]\ncommand=c\nnumprocs=2\n",
        "%(process_num) must be present within process_name when numprocs > 1",
        4,
        "program:x",
    ),
    (
        "bad-program-name",
        "[program:a b]\ncommand=c\n",
        "Invalid name: 'a b' because of character: ' '",
        2,
        None,
    ),
    (
        "bad-process-name",
        "[program:x]\ncommand=c\nprocess_name=a:b\n",
        "Invalid name: 'a:b' because of character: ':'",
        4,
        "program:x",
    ),
    (
        "bool",
        "[program:x]\ncommand=c\nautostart=maybe\n",
        "not a valid boolean value: 'maybe'",
        4,
        "program:x",
    ),
    (
        "int",
        "[program:x]\ncommand=c\nstartsecs=abc\n",
        "invalid literal for int() with base 10: 'abc'",
        4,
        "program:x",
    ),
    (
        "signal-name",
        "[program:x]\ncommand=c\nstopsignal=FOO\n",
        "value 'FOO' is not a valid signal name",
        4,
        "program:x",
    ),
    (
        "signal-number",
        "[program:x]\ncommand=c\nstopsignal=999\n",
        "value '999' is not a valid signal number",
        4,
        "program:x",
    ),
    (
        "exitcodes",
        "[program:x]\ncommand=c\nexitcodes=0,256\n",
        "not a valid list of exit codes: '0,256'",
        4,
        "program:x",
    ),
    (
        "bytes",
        "[program:x]\ncommand=c\nstdout_logfile_maxbytes=50XB\n",
        "invalid literal for int() with base 10: '50xb'",
        4,
        "program:x",
    ),
    (
        "umask",
        "[program:x]\ncommand=c\numask=999\n",
        "999 can not be converted to an octal type",
        4,
        "program:x",
    ),
    (
        "user-name",
        "[program:x]\ncommand=c\nuser=nosuch-user-xyz\n",
        "Invalid user name nosuch-user-xyz",
        4,
        "program:x",
    ),
    ("user-id", "[program:x]\ncommand=c\nuser=54321\n", "Invalid user id 54321", 4, "program:x"),
    (
        "log-dir-missing",
        "[program:x]\ncommand=c\nstdout_logfile=/nonexistent/dir/x.log\n",
        "The directory named as part of the path /nonexistent/dir/x.log does not exist",
        4,
        "program:x",
    ),
    (
        "env-pairs",
        "[program:x]\ncommand=c\nenvironment=A=1,B\n",
        "Unexpected end of key/value pairs in value 'A=1,B'",
        4,
        "program:x",
    ),
    (
        "autorestart",
        "[program:x]\ncommand=c\nautorestart=sometimes\n",
        "invalid 'autorestart' value 'sometimes'",
        4,
        "program:x",
    ),
    (
        "stopasgroup",
        "[program:x]\ncommand=c\nstopasgroup=true\nkillasgroup=false\n",
        "Cannot set stopasgroup=true and killasgroup=false",
        5,
        "program:x",
    ),
    (
        "unknown-expansion",
        "[program:x]\ncommand=c %(nope)s\n",
        "Format string 'c %(nope)s' for 'program:x.command' contains names ('nope') which cannot "
        "be expanded. Available names: ENV_HOME, ENV_PATH, group_name, here, host_node_name, "
        "numprocs, process_num, program_name",
        3,
        "program:x",
    ),
    (
        "bad-format",
        "[program:x]\ncommand=c %(foo\n",
        "Format string 'c %(foo' for 'program:x.command' is badly formatted: incomplete format key",
        3,
        "program:x",
    ),
    (
        "priority-no-process-num",
        "[program:x]\ncommand=c\npriority=%(process_num)d\n",
        "contains names ('process_num') which cannot be expanded. Available names: ENV_HOME, "
        "ENV_PATH, here",
        4,
        None,
    ),
    (
        "main-logfile-dir",
        "logfile=/nonexistent/x.log\n",
        "The directory named as part of the path /nonexistent/x.log does not exist",
        2,
        None,
    ),
    ("loglevel", "loglevel=verbose\n", "bad logging level name 'verbose'", 2, None),
    (
        "childlogdir",
        "childlogdir=/nonexistent\n",
        "/nonexistent is not an existing directory",
        2,
        None,
    ),
    (
        "el-no-events",
        "[eventlistener:x]\ncommand=c\n",
        '[eventlistener:x] section requires an "events" line',
        2,
        None,
    ),
    (
        "el-unknown-event",
        "[eventlistener:x]\ncommand=c\nevents=TICK_5,foo\n",
        "Unknown event type FOO in [eventlistener:x] events",
        4,
        None,
    ),
    (
        "el-buffer",
        "[eventlistener:x]\ncommand=c\nevents=TICK\nbuffer_size=0\n",
        "[eventlistener:x] section sets invalid buffer_size (0)",
        5,
        None,
    ),
    (
        "el-redirect",
        "[eventlistener:x]\ncommand=c\nevents=TICK\nredirect_stderr=true\n",
        "section sets redirect_stderr=true but this is not allowed because it will interfere with "
        "the eventlistener protocol",
        5,
        None,
    ),
    (
        "fcgi-no-socket",
        "[fcgi-program:x]\ncommand=c\n",
        '[fcgi-program:x] section requires a "socket" line',
        2,
        None,
    ),
    (
        "fcgi-bad-format",
        "[fcgi-program:x]\ncommand=c\nsocket=foo://x\n",
        "('Bad socket format %s', 'foo://x') in [fcgi-program:x] socket",
        4,
        None,
    ),
    (
        "fcgi-relative",
        "[fcgi-program:x]\ncommand=c\nsocket=unix://rel/x.sock\n",
        "('Unix socket path %s is not an absolute path', 'rel/x.sock') in [fcgi-program:x] socket",
        4,
        None,
    ),
    (
        "fcgi-tcp-mode",
        "[fcgi-program:x]\ncommand=c\nsocket=tcp://localhost:9000\nsocket_mode=0600\n",
        "socket_owner and socket_mode params should only be used with a Unix "
        "domain socket in [fcgi-program:x] socket",
        4,
        None,
    ),
    (
        "fcgi-backlog",
        "[fcgi-program:x]\ncommand=c\nsocket=tcp://h:1\nsocket_backlog=0\n",
        "Invalid socket_backlog value 0",
        5,
        None,
    ),
    (
        "fcgi-owner",
        "[fcgi-program:x]\ncommand=c\nsocket=unix:///tmp/x.sock\nsocket_owner=nosuch-user-xyz\n",
        "Invalid socket_owner value nosuch-user-xyz",
        5,
        None,
    ),
    (
        "fcgi-mode",
        "[fcgi-program:x]\ncommand=c\nsocket=unix:///tmp/x.sock\nsocket_mode=999\n",
        "Invalid socket_mode value 999",
        5,
        None,
    ),
    (
        "group-priority",
        "[program:x]\ncommand=c\n[group:g]\nprograms=x\npriority=abc\n",
        "invalid literal for int() with base 10: 'abc'",
        6,
        None,
    ),
    (
        "el-handler",
        "[eventlistener:e]\ncommand=c\nevents=TICK_5\nresult_handler=nope.mod:fn\n",
        "nope.mod:fn cannot be resolved within [eventlistener:e]",
        5,
        None,
    ),
    (
        "process-name-colon",
        "[program:x]\ncommand=c\nprocess_name=a:b\n",
        "Invalid name: 'a:b' because of character: ':'",
        4,
        "program:x",
    ),
    (
        "group-unknown",
        "[group:g]\nprograms=nope\n",
        "[group:g] names unknown program or fcgi-program nope",
        3,
        None,
    ),
    (
        "group-ambiguous",
        "[program:x]\ncommand=c\n[fcgi-program:x]\ncommand=c\n"
        "socket=tcp://h:1\n[group:g]\nprograms=x\n",
        "[group:g] name x is ambiguous (exists as program and fcgi-program)",
        8,
        None,
    ),
    (
        "unix-no-file",
        "[unix_http_server]\nchmod=0700\n",
        "section [unix_http_server] has no file value",
        2,
        None,
    ),
    (
        "unix-chmod",
        "[unix_http_server]\nfile=/tmp/s.sock\nchmod=abc\n",
        "Invalid chmod value abc",
        4,
        None,
    ),
    (
        "unix-chown",
        "[unix_http_server]\nfile=/tmp/s.sock\nchown=nosuch-user-xyz:foo\n",
        "Invalid sockchown value nosuch-user-xyz:foo",
        4,
        None,
    ),
    (
        "unix-auth",
        "[unix_http_server]\nfile=/tmp/s.sock\nusername=a\n",
        "Section [unix_http_server] contains incomplete authentication: If a username or a "
        "password is specified, both the username and password must be specified",
        2,
        None,
    ),
    (
        "inet-no-port",
        "[inet_http_server]\n",
        "section [inet_http_server] has no port value",
        2,
        None,
    ),
    (
        "inet-port-alone",
        "[inet_http_server]\nport=99999\n",
        "not a valid port number: '99999' ",
        3,
        None,
    ),
    (
        "inet-port-bound",
        "[inet_http_server]\nport=127.0.0.1:99999\n",
        "99999 is above upper bound (65535)",
        3,
        None,
    ),
    (
        "inet-no-port-number",
        "[inet_http_server]\nport=localhost:\n",
        "no port number specified in ''",
        3,
        None,
    ),
    (
        "include-no-files",
        "[include]\n",
        ".ini file has [include] section, but no files setting",
        2,
        None,
    ),
    (
        "rpc-no-factory",
        "[rpcinterface:foo]\nx=1\n",
        "section [rpcinterface:foo] does not specify a supervisor.rpcinterface_factory",
        2,
        None,
    ),
]


@pytest.mark.parametrize(
    ("text", "message", "line", "section"), [c[1:] for c in CASES], ids=[c[0] for c in CASES]
)
def test_broken_config(
    write: Callable[..., str], text: str, message: str, line: int, section: str | None
) -> None:
    path = write("[supervisord]\n" + text)
    with pytest.raises(ConfigError) as info:
        load(path, environ=ENV)
    err = info.value
    assert message in err.message
    assert (err.file, err.line, err.section) == (path, line, section)


def test_suffix_rendering(write: Callable[..., str]) -> None:
    path = write("[supervisord]\n[program:x]\ncommand=c\nautostart=maybe\n")
    with pytest.raises(ConfigError) as info:
        load(path, environ=ENV)
    assert str(info.value) == (
        f"not a valid boolean value: 'maybe' in section 'program:x' (file: '{path}', line: 4)"
    )


FIXTURE_CASES = [
    ("not-ini.conf", "File contains no section headers.", 1),
    ("line-without-equals.conf", "Source contains parsing errors", 5),
    ("program-without-command.conf", "does not specify a command", 3),
    ("no-supervisord-section.conf", ".ini file does not include supervisord section", None),
    ("numprocs-without-process-num.conf", "%(process_num) must be present", 5),
    ("eventlistener-redirect-stderr.conf", "interfere with the eventlistener protocol", 6),
]


@pytest.mark.parametrize(("name", "message", "line"), FIXTURE_CASES)
def test_broken_fixture(name: str, message: str, line: int | None) -> None:
    path = str(FIXTURES / name)
    with pytest.raises(ConfigError) as info:
        load(path, environ=ENV)
    assert message in info.value.message
    assert (info.value.file, info.value.line) == (path, line)


def test_parse_error_lists_line_text(write: Callable[..., str]) -> None:
    path = write("[supervisord]\n[program:x]\ncommand=c\n\n\n\nno equals here\n")
    with pytest.raises(ConfigError) as info:
        load(path, environ=ENV)
    assert info.value.message == (
        f"Source contains parsing errors: '{path}'\n\t[line  7]: 'no equals here\\n'"
    )
    # the text names file and line itself, as 4.3's does: not a second time after it
    assert str(info.value) == info.value.message


def test_missing_header_reports_first_content_line(write: Callable[..., str]) -> None:
    path = write("# c\n; comment\nhello\n[supervisord]\n", name="x.conf")
    with pytest.raises(ConfigError) as info:
        load(path, environ=ENV)
    assert info.value.message.startswith("File contains no section headers.\n")
    assert info.value.line == 3


def test_error_in_included_file_names_that_file(write: Callable[..., str]) -> None:
    inc = write("[program:y]\ncommand=c\n\nstartsecs=nope\n", name="conf.d/y.conf")
    path = write("[supervisord]\n[include]\nfiles=conf.d/*.conf\n")
    with pytest.raises(ConfigError) as info:
        load(path, environ=ENV)
    assert (info.value.file, info.value.line, info.value.section) == (inc, 4, "program:y")


def test_parse_error_in_included_file(write: Callable[..., str]) -> None:
    inc = write("[program:y]\ncommand=c\nbroken\n", name="conf.d/y.conf")
    path = write("[supervisord]\n[include]\nfiles=conf.d/*.conf\n")
    with pytest.raises(ConfigError) as info:
        load(path, environ=ENV)
    assert (info.value.file, info.value.line) == (inc, 3)


def test_bad_override(write: Callable[..., str]) -> None:
    path = write("[supervisord]\n")
    with pytest.raises(ConfigError, match="bad logging level name 'loud'"):
        load(path, overrides={"loglevel": "loud"}, environ=ENV)


def test_file_value_is_checked_even_when_a_flag_overrides_it(write: Callable[..., str]) -> None:
    # `corrald -n` with nodaemon=maybe in the file: refused, as supervisord does
    path = write("[supervisord]\nnodaemon=maybe\n")
    with pytest.raises(ConfigError, match="not a valid boolean value: 'maybe'") as info:
        load(path, overrides={"nodaemon": "true"}, environ=ENV)
    assert info.value.line == 2


def test_a_broken_supervisorctl_section_does_not_stop_the_daemon(write: Callable[..., str]) -> None:
    path = write("[supervisord]\n[supervisorctl]\nserverurl=%(nope)s\n")
    config = load(path, environ=ENV)
    assert config.ctl is None
    assert any("[supervisorctl] section ignored" in w.message for w in config.warnings)
