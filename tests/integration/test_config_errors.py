"""corrald refuses a broken config with the file, the line and what is wrong (exit 2)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support import run_corrald

CASES = [
    (
        "[program:x]\ncommand=/bin/true\nautostart=maybe\n",
        "not a valid boolean value: 'maybe' in section 'program:x'",
        6,
    ),
    ("[program:x]\nstartsecs=1\n", "program section program:x does not specify a command", 4),
    (
        "[program:x]\ncommand=/bin/true\nnumprocs=2\n",
        "%(process_num) must be present within process_name when numprocs > 1",
        6,
    ),
    (
        "[program:x]\ncommand=/bin/true\nstopsignal=FOO\n",
        "value 'FOO' is not a valid signal name",
        6,
    ),
    (
        "[program:x]\ncommand=/bin/true\nstdout_logfile=/nonexistent/dir/x.log\n",
        "The directory named as part of the path /nonexistent/dir/x.log does not exist",
        6,
    ),
]


@pytest.mark.parametrize(("body", "message", "line"), CASES)
def test_broken_program_section(tmp_path: Path, body: str, message: str, line: int) -> None:
    conf = tmp_path / "bad.conf"
    conf.write_text(f"[supervisord]\nlogfile={tmp_path}/d.log\n\n{body}")
    result = run_corrald("-n", "-c", str(conf))
    assert result.returncode == 2
    assert result.stderr.startswith("Error: ")
    assert message in result.stderr
    assert f"file: '{conf}'" in result.stderr
    assert f"line: {line}" in result.stderr
    assert result.stderr.rstrip().endswith("-h")


def test_error_in_an_included_file_names_that_file(tmp_path: Path) -> None:
    (tmp_path / "conf.d").mkdir()
    inc = tmp_path / "conf.d" / "app.conf"
    inc.write_text("[program:app]\ncommand=/bin/true\nstartretries=lots\n")
    conf = tmp_path / "main.conf"
    conf.write_text(f"[supervisord]\nlogfile={tmp_path}/d.log\n[include]\nfiles=conf.d/*.conf\n")
    result = run_corrald("-n", "-c", str(conf))
    assert result.returncode == 2
    assert f"file: '{inc}'" in result.stderr
    assert "line: 3" in result.stderr


def test_usage_errors(tmp_path: Path) -> None:
    assert "option --bogus not recognized" in run_corrald("--bogus").stderr
    r = run_corrald("-c", str(tmp_path / "missing.conf"))
    assert r.returncode == 2
    assert f"could not find config file {tmp_path / 'missing.conf'}" in r.stderr
    r = run_corrald("-c", "x", "-c", "y")
    assert "conflicting command line option '-c'" in r.stderr


def test_unknown_keys_are_kept_and_warned(tmp_path: Path, daemon) -> None:
    d = daemon("""
[program:x]
command=/bin/sleep 100
startsecs=0
my_team_owner=payments
""")
    d.wait_state("x", "RUNNING")
    assert "my_team_owner" in d.log()


def test_unattainable_minfds_is_refused(tmp_path: Path) -> None:
    conf = tmp_path / "c.conf"
    conf.write_text(f"[supervisord]\nlogfile={tmp_path}/d.log\nminfds=999999999\n")
    result = run_corrald("-n", "-c", str(conf))
    assert result.returncode == 2
    assert "The minimum number of file descriptors required to run this process is 999999999" in (
        result.stderr
    )
