"""The rooms lean one way, and the import rules in the README hold: checked on the source."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

FORBIDDEN = {
    "engine": ("actors", "web", "storage", "benchmarks"),
    "actors": ("web", "storage", "benchmarks", "aiohttp"),
    "storage": ("actors", "web", "benchmarks"),
}  # web/ may reach benchmarks lazily (the loadtest subcommand); tests/web/test_cli.py checks --help
PACKAGES = ("engine", "actors", "web", "storage", "benchmarks")


def _imports(path: Path) -> list[tuple[str, list[str], int]]:
    """(module, names, line) of every import in ``path``, at any depth (lazy ones too)."""
    out = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            out.extend((alias.name, [], node.lineno) for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            out.append((node.module, [a.name for a in node.names], node.lineno))
    return out


def _modules(package: str) -> list[Path]:
    return sorted((ROOT / package).rglob("*.py"))


@pytest.mark.parametrize("package", sorted(FORBIDDEN))
def test_a_package_never_imports_the_rooms_above_it(package):
    bad = [f"{path.relative_to(ROOT)}:{line} imports {module}"
           for path in _modules(package) for module, _, line in _imports(path)
           if module.split(".")[0] in FORBIDDEN[package]]
    assert bad == []


def test_nothing_private_is_imported_from_another_package():
    """Tests are white-box and may reach a module's private names; packages may not."""
    bad = []
    for package in PACKAGES:
        for path in _modules(package):
            for module, names, line in _imports(path):
                top = module.split(".")[0]
                private = [p for p in module.split(".") if p.startswith("_") and p != "__future__"]
                private += [n for n in names if n.startswith("_")]
                if top != package and top in PACKAGES and private:
                    bad.append(f"{path.relative_to(ROOT)}:{line} {module} {private}")
    assert bad == []


def _is_test_or_conftest(module: str) -> bool:
    last = module.rsplit(".", 1)[-1]
    return module.startswith("tests.") and (last.startswith("test_") or last == "conftest")


def test_no_test_module_imports_another_or_a_conftest():
    """Shared helpers live in tests/<pkg>/helpers.py; fixtures in conftest reach tests by pytest alone."""
    bad = [f"{path.relative_to(ROOT)}:{line} imports {module}"
           for path in _modules("tests") for module, names, line in _imports(path)
           if _is_test_or_conftest(module) or any(_is_test_or_conftest(f"{module}.{n}") for n in names)]
    assert bad == []
