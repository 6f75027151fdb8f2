"""The layer rules of DESIGN.md §3, checked on the source with ``ast``.

- ``domain`` imports none of app, schema, resolvers, workers, strawberry, starlette, dramatiq;
- ``schema`` types never run SQL: no sqlalchemy or sqlmodel import;
- ``resolvers`` never build SQL: no sqlalchemy or sqlmodel import, except the ``AsyncSession``
  *type* a resolver uses to annotate the session it hands to a service.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

DOMAIN_FORBIDDEN = frozenset(
    {"app", "schema", "resolvers", "workers", "strawberry", "starlette", "dramatiq"}
)
SQL_PACKAGES = frozenset({"sqlalchemy", "sqlmodel"})
#: Names a resolver may import from SQLAlchemy: a session type to annotate with, nothing
#: that builds a statement.
RESOLVER_SQL_ALLOWED = frozenset({("sqlalchemy.ext.asyncio", "AsyncSession")})

Found = tuple[int, str, str | None]  # (line, absolute module, imported name or None)


def python_files(package: str) -> list[Path]:
    return sorted((ROOT / package).rglob("*.py"))


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def imports_in(source: str, module: str, *, is_package: bool = False) -> Iterator[Found]:
    """Every import in ``source`` (the text of ``module``), relative ones made absolute."""
    tree = ast.parse(source)
    package = module.split(".") if is_package else module.split(".")[:-1]
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name, None
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package[: len(package) - (node.level - 1)]
                target = ".".join([*base, node.module] if node.module else base)
            else:
                target = node.module or ""
            for alias in node.names:
                yield node.lineno, target, alias.name


def imports(path: Path) -> Iterator[Found]:
    """Every import in a file as ``(line, absolute module, imported name or None)``."""
    try:
        source = path.read_text(encoding="utf-8")
        yield from imports_in(source, module_name(path), is_package=path.name == "__init__.py")
    except SyntaxError as exc:
        raise AssertionError(f"{path.relative_to(ROOT)} does not parse: {exc}") from exc


def top(module: str) -> str:
    return module.split(".", 1)[0]


def where(path: Path, line: int) -> str:
    return f"{path.relative_to(ROOT)}:{line}"


@pytest.mark.parametrize("package", ["domain", "schema", "resolvers"])
def test_packages_exist_and_parse(package: str) -> None:
    files = python_files(package)
    assert files, f"no Python files under {package}/"
    for path in files:
        list(imports(path))  # a syntax error fails here, naming the file


def test_domain_depends_on_no_edge() -> None:
    bad = [
        f"{where(path, line)} imports {module}"
        for path in python_files("domain")
        for line, module, _ in imports(path)
        if top(module) in DOMAIN_FORBIDDEN
    ]
    assert not bad, "domain/ must not import the edges or their frameworks:\n" + "\n".join(bad)


def test_schema_types_never_run_sql() -> None:
    bad = [
        f"{where(path, line)} imports {module}" + (f".{name}" if name else "")
        for path in python_files("schema")
        for line, module, name in imports(path)
        if top(module) in SQL_PACKAGES
    ]
    assert not bad, "schema/ must not import sqlalchemy or sqlmodel:\n" + "\n".join(bad)


def test_resolvers_never_build_sql() -> None:
    bad = [
        f"{where(path, line)} imports {module}" + (f".{name}" if name else "")
        for path in python_files("resolvers")
        for line, module, name in imports(path)
        if top(module) in SQL_PACKAGES and (module, name) not in RESOLVER_SQL_ALLOWED
    ]
    assert not bad, "resolvers/ must not build SQL (no sqlalchemy imports):\n" + "\n".join(bad)


def test_the_checker_sees_every_import_form() -> None:
    """Guard the guard: plain, aliased, from, relative, nested and function-level imports."""
    source = (
        "import strawberry\n"
        "import sqlalchemy as sa, os\n"
        "from starlette.requests import Request\n"
        "from . import shared\n"
        "from .shared.money import Money\n"
        "from ..app import settings\n"
        "def f():\n"
        "    import dramatiq\n"
        "if True:\n"
        "    from sqlalchemy.ext.asyncio import AsyncSession\n"
    )
    listed = {(m, n) for _, m, n in imports_in(source, "domain.probe")}
    assert listed == {
        ("strawberry", None),
        ("sqlalchemy", None),
        ("os", None),
        ("starlette.requests", "Request"),
        ("domain", "shared"),
        ("domain.shared.money", "Money"),
        ("app", "settings"),
        ("dramatiq", None),
        ("sqlalchemy.ext.asyncio", "AsyncSession"),
    }
    package_relative = {
        (m, n) for _, m, n in imports_in("from . import x", "domain", is_package=True)
    }
    assert package_relative == {("domain", "x")}


def test_the_design_document_lives_in_the_repository() -> None:
    """A newcomer with only this repository finds the design the README points to."""
    root = Path(__file__).resolve().parents[1]
    readme = (root / "README.md").read_text()
    assert "docs/DESIGN.md" in readme and "../shared" not in readme
    design = (root / "docs" / "DESIGN.md").read_text()
    assert design.startswith("# Trama — design") and "## 3. Layers and their rules" in design
