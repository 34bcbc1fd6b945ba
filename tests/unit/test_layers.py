"""The layer rule, kept true: wire <- config <- logs <- runtime <- api <- server <- daemon;
ctl uses only wire and config. Walks every import in src/corral."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

SRC = Path(__file__).resolve().parents[2] / "src" / "corral"
ORDER = ["wire", "config", "logs", "runtime", "api", "server", "daemon"]
ALLOWED = {layer: set(ORDER[: i + 1]) for i, layer in enumerate(ORDER)}
ALLOWED["ctl"] = {"wire", "config", "ctl"}


def corral_imports(path: Path) -> set[str]:
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [node.module]
        elif isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        else:
            continue
        for name in names:
            parts = name.split(".")
            if parts[0] == "corral" and len(parts) > 1:
                found.add(parts[1])
    return found


def test_no_import_goes_against_the_layers() -> None:
    bad = []
    for layer, allowed in ALLOWED.items():
        for path in (SRC / layer).rglob("*.py"):
            for imported in corral_imports(path) - allowed - {"__init__"}:
                if (SRC / imported).is_dir():
                    bad.append(f"{path.relative_to(SRC)} imports corral.{imported}")
    assert bad == []


def test_corralctl_imports_no_runtime_and_no_http_server() -> None:
    code = (
        "import sys, corral.ctl.main; "
        "bad=[m for m in sys.modules if m.startswith(('h11','aiohttp','asyncio','psutil',"
        "'corral.runtime','corral.server','corral.api','corral.logs'))]; print(bad)"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout.strip()
    assert out == "[]"


def test_no_module_named_supervisor_is_shipped() -> None:
    assert not (SRC.parent / "supervisor").exists()
    assert not list(SRC.rglob("supervisor/__init__.py"))


ARCHITECTURE = SRC.parents[1] / "docs" / "architecture.md"


def test_every_module_is_named_in_the_architecture_doc() -> None:
    text = ARCHITECTURE.read_text()
    missing = [
        str(path.relative_to(SRC))
        for path in SRC.rglob("*.py")
        if path.name != "__init__.py" and f"`{path.name}`" not in text
    ]
    assert missing == []


def test_runtime_modules_keep_to_one_job() -> None:
    big = {
        path.name: n
        for path in (SRC / "runtime").glob("*.py")
        if (n := len(path.read_text().splitlines())) > 500
    }
    assert big == {}
