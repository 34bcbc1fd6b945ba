"""corral's own program keys (issue 9): read into one Supervision per section; bad values
refused with file and line; sections without them share the default."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from corral.config import load
from corral.config.model import ConfigError
from corral.config.supervision import DEFAULT_SUPERVISION, UNLIMITED, Dependency, Supervision

HEAD = "[supervisord]\n"


def programs(conf: Callable[..., str], body: str) -> dict[str, Supervision]:
    cfg = load(conf(HEAD + body))
    return {p.name: p.supervision for g in cfg.groups for p in g.processes}


def test_keys_are_read(write: Callable[..., str]) -> None:
    got = programs(
        write,
        """
[program:db]
command=/bin/true
ready_check=notify
ready_timeout=30
watchdog_sec=5
startretries=unlimited
backoff=exponential
backoff_max=20
restart_delay=1.5

[program:app]
command=/bin/true
depends_on=db, migrate:exited, cache:started
health_check=http://127.0.0.1:8080/health
health_interval=2
health_retries=5
health_action=stop

[program:migrate]
command=/bin/true

[program:cache]
command=/bin/true
""",
    )
    db, app = got["db"], got["app"]
    assert db.ready_check is not None and db.ready_check.kind == "notify"
    assert (db.ready_timeout, db.watchdog_sec, db.backoff, db.backoff_max) == (
        30.0,
        5.0,
        "exponential",
        20.0,
    )
    assert db.restart_delay == 1.5
    assert app.depends_on == (
        Dependency("db", "ready"),
        Dependency("migrate", "exited"),
        Dependency("cache", "started"),
    )
    assert app.health_check is not None and app.health_check.port == 8080
    assert (app.health_interval, app.health_retries, app.health_action) == (2.0, 5, "stop")
    assert got["migrate"] is DEFAULT_SUPERVISION  # shared: a 4.3 config pays nothing
    cfg = load(write(HEAD + "[program:x]\ncommand=/bin/true\nstartretries=unlimited\n"))
    assert cfg.groups[0].processes[0].startretries == UNLIMITED


def test_backoff_delays() -> None:
    assert [Supervision().backoff_delay(t) for t in (1, 2, 3)] == [1, 2, 3]
    exp = Supervision(backoff="exponential", backoff_max=10)
    assert [exp.backoff_delay(t) for t in (1, 2, 3, 4, 5, 100)] == [1, 2, 4, 8, 10, 10]
    assert Supervision(backoff=0.5).backoff_delay(7) == 0.5
    assert Supervision().backoff_delay(1000) == 60  # backoff_max's default caps 4.3's line


@pytest.mark.parametrize(
    ("body", "message", "line"),
    [
        ("ready_check=bogus", "unknown check 'bogus'", 3),
        ("ready_timeout=0", "seconds must be greater than 0", 3),
        ("backoff=sometimes", "backoff must be linear, exponential or a number", 3),
        ("health_action=reboot", "health_action must be restart, stop or none", 3),
        ("health_check=notify", "health_check must be tcp:HOST:PORT", 3),
        ("watchdog_sec=5", "watchdog_sec needs ready_check = notify", 3),
        ("depends_on=x:maybe", "unknown condition 'maybe'", 3),
        ("depends_on=a, a", "'a' is named twice in depends_on", 3),
        ("startretries=lots", "invalid literal for int() with base 10: 'lots'", 3),  # 4.3
    ],
)
def test_bad_values_are_refused_with_file_and_line(
    write: Callable[..., str], body: str, message: str, line: int
) -> None:
    path = write(HEAD + "[program:a]\n" + body + "\ncommand=/bin/true\n")
    with pytest.raises(ConfigError) as refused:
        load(path)
    assert message in str(refused.value)
    assert refused.value.line == line


def test_unknown_dependency_and_cycle_name_the_depends_on_line(write: Callable[..., str]) -> None:
    path = write(HEAD + "[program:a]\ncommand=/bin/true\ndepends_on=ghost\n")
    with pytest.raises(ConfigError) as refused:
        load(path)
    assert "'ghost', which is neither a program nor a group" in str(refused.value)
    assert refused.value.line == 4
    path = write(
        HEAD
        + "[program:a]\ncommand=/bin/true\ndepends_on=b\n\n"
        + "[program:b]\ncommand=/bin/true\ndepends_on=c\n\n"
        + "[program:c]\ncommand=/bin/true\ndepends_on=a\n"
    )
    with pytest.raises(ConfigError) as refused:
        load(path)
    assert "depends_on cycle: a -> b -> c -> a" in str(refused.value)
    assert refused.value.line == 4
