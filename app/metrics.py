"""Prometheus metrics. Multi-process aware when PROMETHEUS_MULTIPROC_DIR is set."""

from __future__ import annotations

import os
import re

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
    multiprocess,
)

HTTP_REQUESTS = Counter("trama_http_requests_total", "HTTP requests", ["method", "route", "status"])
HTTP_LATENCY = Histogram(
    "trama_http_request_duration_seconds", "HTTP request latency", ["method", "route"]
)
GRAPHQL_OPERATIONS = Counter(
    "trama_graphql_operations_total", "GraphQL operations", ["operation", "type"]
)
GRAPHQL_LATENCY = Histogram(
    "trama_graphql_operation_duration_seconds",
    "GraphQL operation latency",
    ["operation"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)
GRAPHQL_ERRORS = Counter("trama_graphql_errors_total", "GraphQL errors by code", ["code"])

_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,63}$")
_MAX_NAMES = 500
_seen_names: set[str] = set()


def operation_label(name: str | None) -> str:
    """Client-chosen names are labels only while few: the rest count as "other"."""
    if not name:
        return "anonymous"
    if not _NAME.match(name):
        return "other"
    if name in _seen_names:
        return name
    if len(_seen_names) >= _MAX_NAMES:
        return "other"
    _seen_names.add(name)
    return name


def render() -> tuple[bytes, str]:
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
        return generate_latest(registry), CONTENT_TYPE_LATEST
    return generate_latest(), CONTENT_TYPE_LATEST
