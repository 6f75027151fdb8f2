"""``trama serve``: uvicorn, one or several processes."""

from __future__ import annotations

import os
import shutil
import sys

import uvicorn

from app.logs import configure_logging
from app.settings import Settings


def app_factory() -> object:
    from app.main import create_app

    configure_logging(
        os.environ.get("TRAMA_LOG_LEVEL", "INFO"), os.environ.get("TRAMA_LOG_FORMAT", "json")
    )
    return create_app()


def serve(settings: Settings, *, host: str, port: int, workers: int) -> int:
    configure_logging(settings.log_level, settings.log_format)
    from app.hosts import production_problems

    problems = production_problems(settings)
    if problems:
        for problem in problems:
            print(f"trama serve: {problem}", file=sys.stderr)
        return 2
    # Create the signing keys before any worker starts, so all of them share one key set.
    from app.auth.keys import KeyStore

    KeyStore.load_or_create(settings.var_dir / "keys", settings.signing_key_file)
    if workers > 1:
        metrics_dir = settings.var_dir / "metrics"
        shutil.rmtree(metrics_dir, ignore_errors=True)
        metrics_dir.mkdir(parents=True)
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(metrics_dir.resolve())
    # Worker processes read their settings from the environment: pin what the CLI chose,
    # so every process computes the same issuer URL.
    os.environ["TRAMA_HOST"] = host
    os.environ["TRAMA_PORT"] = str(port)
    print(
        f"Trama serving on http://{host}:{port}  (GraphiQL: http://{host}:{port}/graphql)",
        flush=True,
    )
    uvicorn.run(
        "app.server:app_factory",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        log_config=None,
        access_log=False,
        proxy_headers=True,
        ws_max_size=1_048_576,
        lifespan="on",
        timeout_graceful_shutdown=10,
    )
    return 0
