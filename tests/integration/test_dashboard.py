"""The dashboard in a real browser: Debian's Chromium (installed by .ci/run) driven by
Playwright for Python, against a real corrald on a loopback port with credentials.
Screenshots go to each test's tmp dir."""

from __future__ import annotations

import shutil
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support import Daemon, free_port, wait_until

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
USER, PASSWORD = "op", "pa55"


def programs(tmp: Path) -> str:
    return f"""\
[program:web]
command=/bin/sleep 1000
process_name=%(program_name)s_%(process_num)d
numprocs=2
startsecs=0

[program:talker]
command=/bin/sh -c 'while :; do test -e {tmp}/say && cat {tmp}/say && rm {tmp}/say; sleep 0.1; done'
startsecs=0

[program:idle]
command=/bin/sleep 1000
autostart=false
"""


@pytest.fixture
def site(tmp_path: Path) -> Iterator[tuple[Daemon, str]]:
    port = free_port()
    d = Daemon(
        tmp_path,
        programs(tmp_path),
        extra=f"[inet_http_server]\nport=127.0.0.1:{port}\nusername={USER}\npassword={PASSWORD}\n",
    ).start()
    try:
        yield d, f"http://127.0.0.1:{port}"
    finally:
        d.cleanup()


@pytest.fixture
def browser() -> Iterator[Any]:
    if not Path(CHROMIUM).exists():
        pytest.fail("Chromium (Debian's chromium package, installed by .ci/run) is missing")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        pytest.fail("playwright (a test extra) is not installed")
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        try:
            yield b
        finally:
            b.close()


def open_page(browser: Any, url: str, width: int = 1280) -> tuple[Any, list[str]]:
    context = browser.new_context(
        viewport={"width": width, "height": 800},
        http_credentials={"username": USER, "password": PASSWORD},
    )
    page = context.new_page()
    problems: list[str] = []
    page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: problems.append(str(e)))
    page.goto(url)
    page.wait_for_selector("#conn.live")
    return page, problems


def wait_js(page: Any, expr: str, timeout: float = 10.0) -> None:
    """Poll a condition from here (the page's CSP forbids the eval that Playwright's own
    wait_for_function polling needs; CDP's evaluate is not subject to it)."""
    wait_until(lambda: page.evaluate(expr), timeout=timeout, what=expr)


def test_the_page_shows_every_process_without_errors(
    site: tuple[Daemon, str], browser: Any, tmp_path: Path
) -> None:
    _, url = site
    page, problems = open_page(browser, url + "/")
    names = page.eval_on_selector_all(
        "#rows tr[data-name]", "rows => rows.map(r => r.dataset.name)"
    )
    assert names == ["idle", "talker", "web:web_0", "web:web_1"]
    assert page.locator("tr[data-name='idle'] .state").text_content() == "STOPPED"
    assert page.locator("#counts").text_content() == "3 of 4 running"
    wait_js(
        page,
        "document.querySelector(\"tr[data-name='web:web_0'] td:nth-child(6)\").textContent !== ''",
    )  # RSS from the pushed stats
    page.screenshot(path=str(tmp_path / "dashboard.png"))
    assert problems == []
    # 4.3's bookmarked page leads to the same list
    page.goto(url + "/index.html")
    page.wait_for_selector("#rows tr[data-name='web:web_1']")
    assert problems == []


def test_restart_changes_the_pid_and_the_row_updates_without_reload(
    site: tuple[Daemon, str], browser: Any, tmp_path: Path
) -> None:
    d, url = site
    page, problems = open_page(browser, url + "/")
    before = d.info("web:web_0")["pid"]
    page.evaluate("window.__still_here = true")
    page.click("tr[data-name='web:web_0'] button[data-act='restart']")
    wait_until(
        lambda: (
            d.info("web:web_0")["pid"] not in (0, before)
            and d.info("web:web_0")["statename"] == "RUNNING"
        ),
        what="a new pid",
    )
    after = d.info("web:web_0")["pid"]
    wait_js(
        page,
        f"document.querySelector(\"tr[data-name='web:web_0'] td.desc\").textContent"
        f".startsWith('pid {after},')",
    )
    assert page.evaluate("window.__still_here") is True  # no reload
    # a change made elsewhere (XML-RPC) is pushed to the page
    d.rpc.supervisor.stopProcess("web:web_1")
    wait_js(
        page,
        "document.querySelector(\"tr[data-name='web:web_1'] .state\").textContent === 'STOPPED'",
    )
    page.screenshot(path=str(tmp_path / "after-restart.png"))
    page.click("tr[data-name='web:web_0'] td.name a")  # its page: the stop is a last exit
    wait_js(page, "document.querySelector('#p-exits').textContent.includes('STOPPED')")
    assert problems == []


def test_stop_all_asks_first(site: tuple[Daemon, str], browser: Any) -> None:
    d, url = site
    page, problems = open_page(browser, url + "/")
    asked: list[str] = []

    def dismiss(dialog: Any) -> None:
        asked.append(dialog.message)
        dialog.dismiss()

    page.on("dialog", dismiss)
    page.click("#stop-all")
    wait_until(lambda: asked, what="the confirmation")
    assert d.info("web:web_0")["statename"] == "RUNNING"  # declined: nothing stopped
    page.goto(url + "/#/daemon")
    page.click("#shutdown")
    wait_until(lambda: len(asked) == 2, what="the shutdown confirmation")
    assert d.rpc.supervisor.getState()["statename"] == "RUNNING"
    assert problems == []


def test_a_log_line_appears_in_the_tail_as_text(
    site: tuple[Daemon, str], browser: Any, tmp_path: Path
) -> None:
    _, url = site
    page, problems = open_page(browser, url + "/tail.html?processname=talker")
    page.wait_for_selector("#process-view:not([hidden])")
    assert page.locator("#p-name").text_content() == "talker"
    page.click("#p-config summary")  # its config, as the daemon read it
    wait_js(page, "document.querySelector('#p-config-list').textContent.includes('/bin/sh -c')")
    line = 'hello <img src=x onerror="window.__xss=1"> from talker\n'
    (tmp_path / "say").write_text(line)
    wait_js(
        page, "document.querySelector('#p-log').textContent.includes('from talker')", timeout=15
    )
    assert line.strip() in page.locator("#p-log").text_content()
    assert page.evaluate("window.__xss") is None  # shown, never run
    assert page.locator("#p-log img").count() == 0
    page.screenshot(path=str(tmp_path / "tail.png"))
    assert problems == []


def test_the_narrow_layout_has_no_horizontal_scroll(
    site: tuple[Daemon, str], browser: Any, tmp_path: Path
) -> None:
    _, url = site
    page, problems = open_page(browser, url + "/", width=390)
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    page.screenshot(path=str(tmp_path / "narrow.png"))
    page.goto(url + "/#/process/web:web_0")
    page.wait_for_selector("#process-view:not([hidden])")
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    assert problems == []


def test_keyboard_reaches_the_actions(site: tuple[Daemon, str], browser: Any) -> None:
    d, url = site
    page, _ = open_page(browser, url + "/")
    page.focus("#filter")
    page.keyboard.type("idle")
    assert page.eval_on_selector_all("#rows tr[data-name]", "r => r.length") == 1
    page.focus("tr[data-name='idle'] button[data-act='start']")
    page.keyboard.press("Enter")
    d.wait_state("idle", "RUNNING")


def test_a_read_only_user_sees_no_actions(tmp_path: Path, browser: Any) -> None:
    port = free_port()
    d = Daemon(
        tmp_path,
        programs(tmp_path),
        extra=(
            f"[inet_http_server]\nport=127.0.0.1:{port}\nusername={USER}\npassword={PASSWORD}\n\n"
            "[user:viewer]\npassword=look\nrights=read\n"
        ),
    )
    d.start(wait=False)

    def listening() -> bool:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return True
        except OSError:
            return False

    try:
        wait_until(listening, timeout=15, what="the inet server")
        context = browser.new_context(http_credentials={"username": "viewer", "password": "look"})
        page = context.new_page()
        page.goto(f"http://127.0.0.1:{port}/")
        page.wait_for_selector("#rows tr[data-name='web:web_0']")
        assert page.locator("#rows button").count() == 0
        assert not page.locator("#stop-all").is_visible()
        assert not page.locator("#restart-all").is_visible()
        page.screenshot(path=str(tmp_path / "read-only.png"))
    finally:
        d.cleanup()
