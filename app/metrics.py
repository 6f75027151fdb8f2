"""Prometheus metrics. Multi-process aware when PROMETHEUS_MULTIPROC_DIR is set."""

from __future__ import annotations

import os
import re

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
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


# --- event backbone -------------------------------------------------------------------------
EVENTS_RELAYED = Counter("trama_events_relayed_total", "Outbox events given a delivery position")
EVENTS_PUBLISHED = Counter("trama_events_published_total", "Events sent to the fan-out")
OUTBOX_BACKLOG = Gauge(
    "trama_outbox_backlog", "Committed events not yet relayed", multiprocess_mode="max"
)
OUTBOX_OLDEST_AGE = Gauge(
    "trama_outbox_oldest_undelivered_age_seconds",
    "Age of the oldest event not yet relayed or not yet delivered to a consumer",
    multiprocess_mode="max",
)
DELIVERIES_PENDING = Gauge(
    "trama_event_deliveries_pending", "Consumer deliveries not yet done", multiprocess_mode="max"
)
JOBS = Counter("trama_jobs_total", "Jobs processed by actor and outcome", ["actor", "outcome"])
JOB_DURATION = Histogram(
    "trama_job_duration_seconds",
    "Job run time",
    ["actor"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60),
)
ACTIVE_SUBSCRIPTIONS = Gauge(
    "trama_active_subscriptions", "GraphQL subscriptions running", multiprocess_mode="livesum"
)
SUBSCRIBERS_DROPPED = Counter(
    "trama_subscribers_dropped_total", "Subscribers disconnected for not keeping up"
)

# --- origination ------------------------------------------------------------------------------
APPLICATION_DECISION_SECONDS = Histogram(
    "trama_application_decision_seconds",
    "Time from an application's submission to its first decision (the 24-hour promise)",
    ["outcome"],
    buckets=(60, 300, 900, 1800, 3600, 4 * 3600, 8 * 3600, 24 * 3600, 48 * 3600, 96 * 3600),
)
