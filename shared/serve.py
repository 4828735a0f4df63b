"""Running a service's app under uvicorn with graceful shutdown on SIGTERM."""

from __future__ import annotations

from collections.abc import Callable

import uvicorn
from fastapi import FastAPI

from shared.logs import configure_logging
from shared.settings import ServiceSettings


def serve(settings: ServiceSettings, build_app: Callable[[ServiceSettings], FastAPI]) -> None:
    configure_logging(settings.service, settings.log_level)
    app = build_app(settings)
    uvicorn.run(
        app,
        host=settings.http_host,
        port=settings.http_port,
        loop="uvloop",
        log_config=None,
        access_log=False,
        timeout_graceful_shutdown=int(settings.graceful_timeout_s),
    )
