"""The layering rules of docs/architecture.md, checked over the imports of every module."""

from __future__ import annotations

import ast
import sys
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "src" / "whatsapp_gateway"
DOMAINS = {p.name for p in PACKAGE.iterdir() if p.is_dir() and (p / "__init__.py").exists() and p.name != "migrations"}


def _imports(path: Path) -> list[str]:
    names: list[str] = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.ImportFrom) and node.module:
            names.append(node.module)
        elif isinstance(node, ast.Import):
            names.extend(alias.name for alias in node.names)
    return names


def _domain_of(path: Path) -> str | None:
    relative = path.relative_to(PACKAGE).parts
    return relative[0] if len(relative) > 1 and relative[0] in DOMAINS else None


def test_domains_never_use_another_domains_repository() -> None:
    offenders = []
    for path in PACKAGE.rglob("*.py"):
        own = _domain_of(path)
        for name in _imports(path):
            parts = name.split(".")
            if len(parts) >= 3 and parts[0] == "whatsapp_gateway" and parts[2] == "repository" and parts[1] != own:
                offenders.append(f"{path.relative_to(PACKAGE)} imports {name}")
    assert offenders == []


def test_endpoints_hold_no_sql() -> None:
    offenders = []
    for path in PACKAGE.rglob("endpoints.py"):
        for name in _imports(path):
            if name == "sqlalchemy" or name.startswith("sqlalchemy.") or name.endswith(".repository"):
                offenders.append(f"{path.relative_to(PACKAGE)} imports {name}")
    assert offenders == []


def test_only_runtime_talks_to_docker() -> None:
    offenders = [
        str(path.relative_to(PACKAGE))
        for path in PACKAGE.rglob("*.py")
        if _domain_of(path) != "runtime" and any(n == "docker" or n.startswith("docker.") for n in _imports(path))
    ]
    assert offenders == []


def test_only_provider_talks_to_workers() -> None:
    # waba talks to Meta's Graph API, not to a worker; runtime to Docker engines (the Engine API is HTTP).
    allowed = {"provider", "waba", "runtime", None}
    offenders = [
        str(path.relative_to(PACKAGE))
        for path in PACKAGE.rglob("*.py")
        if _domain_of(path) not in allowed
        and path.name != "app.py"  # makes the one shared client and hands it to provider.client
        and any(n == "httpx" or n.startswith("httpx.") for n in _imports(path))
    ]
    assert offenders == []


def test_the_sandbox_worker_is_a_worker_like_any_other() -> None:
    """It speaks only the protocol: no control-plane imports, and only the standard library and h11 (memory)."""
    worker = PACKAGE.parent / "sandbox_worker"
    stdlib = sys.stdlib_module_names
    offenders = []
    for path in worker.rglob("*.py"):
        for name in _imports(path):
            top = name.split(".")[0]
            if top not in stdlib and top not in {"h11", "sandbox_worker"}:
                offenders.append(f"{path.name} imports {name}")
    assert offenders == []
