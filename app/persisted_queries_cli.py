"""``trama persisted-queries add|list|remove``: the documents of the allow-list (issue 14).

``add`` takes GraphQL files (``.graphql``/``.gql``: the file's text is the document, byte
for byte — a client must send exactly that text, or its hash) and Apollo persisted-query
manifests (``persisted-query-manifest.json`` from ``@apollo/generate-persisted-query-manifest``:
each operation's ``body``, its ``id`` checked as the body's SHA-256), or a JSON object of
``{"<sha256>": "<document>"}`` (Relay's ``persisted_queries.json``). ``--printed`` registers
each document as graphql-js/graphql-core print it (what Apollo Client hashes when it builds
the document from a ``gql`` tag). Every document must parse and validate against the
schema; one bad document refuses the whole batch, and nothing is written.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import re
import sys
from pathlib import Path
from typing import Any

from app.settings import Settings

EXIT_REFUSED = 2
_HEX64 = re.compile(r"^[0-9a-fA-F]{64}$")


class Refused(Exception):
    pass


def _schema(settings: Settings) -> Any:
    from schema import create_schema

    # Validation only: introspection allowed so documents that ask for __typename or
    # introspection (GraphiQL's own) are judged by the schema, not by the production gate.
    return create_schema(max_depth=settings.max_depth, max_aliases=settings.max_aliases)._schema


def _documents_of(path: Path) -> list[tuple[str, str, str | None]]:
    """(document, source, declared hash) of each document in ``path``."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise Refused(f"cannot read {path}: {exc}") from None
    if path.suffix.lower() != ".json":
        return [(text, str(path), None)]
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise Refused(f"{path} is not valid JSON: {exc}") from None
    if isinstance(data, dict) and data.get("format") == "apollo-persisted-query-manifest":
        if data.get("version") != 1:
            raise Refused(f"{path}: manifest version {data.get('version')!r} is not supported")
        out = []
        for index, op in enumerate(data.get("operations") or []):
            if not isinstance(op, dict) or not isinstance(op.get("body"), str):
                raise Refused(f"{path}: operation {index + 1} has no body")
            name = op.get("name") or f"#{index + 1}"
            declared = op.get("id") if isinstance(op.get("id"), str) else None
            out.append((op["body"], f"{path}:{name}", declared))
        if not out:
            raise Refused(f"{path}: the manifest lists no operations")
        return out
    if isinstance(data, dict) and data and all(_HEX64.match(str(k)) for k in data):
        if not all(isinstance(v, str) for v in data.values()):
            raise Refused(f"{path}: every value must be a document")
        return [(doc, f"{path}:{sha[:12]}", sha) for sha, doc in data.items()]
    raise Refused(
        f"{path}: not an Apollo persisted-query manifest nor a {{sha256: document}} object"
    )


def _checked(schema: Any, document: str, where: str, *, printed: bool) -> tuple[str, list[str]]:
    from graphql import GraphQLError, OperationDefinitionNode, parse, print_ast, validate

    try:
        node = parse(document)
    except GraphQLError as exc:
        raise Refused(f"{where}: does not parse: {exc.message}") from None
    errors = validate(schema, node)
    if errors:
        raise Refused(f"{where}: " + "; ".join(e.message for e in errors[:5]))
    names = [
        d.name.value if d.name else ""
        for d in node.definitions
        if isinstance(d, OperationDefinitionNode)
    ]
    if not names:
        raise Refused(f"{where}: defines no operation")
    return (print_ast(node) if printed else document), names


def cmd_add(args: argparse.Namespace, settings: Settings) -> int:
    from app.cli import _with_db
    from app.db import transaction
    from domain.persisted_queries import service
    from domain.shared.errors import DomainError
    from domain.shared.principal import SYSTEM

    schema = _schema(settings)
    documents: list[service.NewDocument] = []
    try:
        for name in args.files:
            for text, source, declared in _documents_of(Path(name)):
                document, operations = _checked(schema, text, source, printed=args.printed)
                documents.append(
                    service.NewDocument(
                        document=document,
                        operation_names=operations,
                        source=source,
                        declared_hash=None if args.printed else declared,
                    )
                )
    except Refused as exc:
        print(f"trama persisted-queries add: {exc}; nothing was added", file=sys.stderr)
        return EXIT_REFUSED

    async def work() -> list[tuple[service.AddResult, service.NewDocument]]:
        async with transaction() as session:
            results = await service.add_documents(session, principal=SYSTEM, documents=documents)
        return list(zip(results, documents, strict=True))

    try:
        added = asyncio.run(_with_db(settings, work))
    except DomainError as exc:
        print(f"trama persisted-queries add: {exc.message}; nothing was added", file=sys.stderr)
        return EXIT_REFUSED
    for result, item in added:
        state = "added" if result.added else "already registered"
        names = ",".join(n or "(anonymous)" for n in item.operation_names)
        print(f"{result.sha256}\t{names}\t{state}\t{item.source}")
    return 0


def cmd_list(args: argparse.Namespace, settings: Settings) -> int:
    from app.cli import _with_db
    from app.db import read_session
    from domain.persisted_queries import service

    async def work() -> list[Any]:
        async with read_session() as session:
            return await service.list_documents(session)

    rows = asyncio.run(_with_db(settings, work))
    if args.json:
        print(
            json.dumps(
                [
                    {
                        "sha256": r.sha256,
                        "operations": r.operation_names,
                        "source": r.source,
                        "addedAt": r.added_at.isoformat(),
                        "addedBy": r.added_by,
                        **({"document": r.document} if args.documents else {}),
                    }
                    for r in rows
                ],
                indent=2,
            )
        )
    else:
        for r in rows:
            names = ",".join(n or "(anonymous)" for n in r.operation_names)
            print(f"{r.sha256}\t{names}\t{r.added_at.isoformat()}\t{r.source or ''}")
    print(f"{len(rows)} documents registered", file=sys.stderr)
    return 0


def cmd_remove(args: argparse.Namespace, settings: Settings) -> int:
    from app.cli import _with_db
    from app.db import transaction
    from domain.persisted_queries import service
    from domain.shared.errors import DomainError
    from domain.shared.principal import SYSTEM

    async def work() -> int:
        async with transaction() as session:
            return await service.remove_documents(session, principal=SYSTEM, hashes=args.hashes)

    try:
        removed = asyncio.run(_with_db(settings, work))
    except DomainError as exc:
        print(
            f"trama persisted-queries remove: {exc.message}; nothing was removed", file=sys.stderr
        )
        return EXIT_REFUSED
    print(
        f"{removed} documents removed (API processes stop accepting them within "
        "TRAMA_PERSISTED_QUERIES_REFRESH seconds)"
    )
    return 0


def register(sub: Any) -> None:
    p = sub.add_parser(
        "persisted-queries",
        help="the allow-list of GraphQL documents (TRAMA_PERSISTED_QUERIES=allowlist)",
    )
    pq = p.add_subparsers(dest="persisted_command", required=True)
    a = pq.add_parser(
        "add",
        help="register documents: .graphql files, Apollo persisted-query manifests (.json)",
    )
    a.add_argument("files", nargs="+")
    a.add_argument(
        "--printed",
        action="store_true",
        help="register each document as graphql-js prints it (what Apollo Client hashes)",
    )
    a.set_defaults(func=cmd_add)
    ls = pq.add_parser("list", help="the registered documents")
    ls.add_argument("--json", action="store_true")
    ls.add_argument("--documents", action="store_true", help="with --json: their text too")
    ls.set_defaults(func=cmd_list)
    r = pq.add_parser("remove", help="unregister documents by their SHA-256")
    r.add_argument("hashes", nargs="+")
    r.set_defaults(func=cmd_remove)
