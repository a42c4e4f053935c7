"""gunicorn settings for production: `gunicorn -c gunicorn.conf.py wsgi:app`.

gunicorn also reads this file by default when started from the project root. Every value can
be overridden on the command line or with GUNICORN_CMD_ARGS; WEB_CONCURRENCY sets the workers.
"""

import logging
import multiprocessing
import os
import re

from gunicorn.glogging import Logger

bind = os.environ.get("GUNICORN_BIND", "127.0.0.1:8000")
# Requests mostly wait on the database: two workers per core, plus one.
workers = int(os.environ.get("WEB_CONCURRENCY") or multiprocessing.cpu_count() * 2 + 1)
timeout = 30
graceful_timeout = 30
keepalive = 5
# A worker is replaced after this many requests, bounding any slow leak; the wide jitter keeps
# workers that started together from restarting in the same second.
max_requests = 10_000
max_requests_jitter = 5_000
accesslog = "-"
errorlog = "-"
# Request id (the shop's X-Request-ID), remote address, request line, status, size, duration.
access_log_format = (
    'request_id=%({x-request-id}o)s remote=%(h)s "%(r)s" status=%(s)s bytes=%(B)s '
    "duration_ms=%(M)s"
)

# A mailed link's token in a request line is a secret: the access log shows `[token]`.
SECRET_PATHS = re.compile(r"(/auth/(?:reset|verify)/)[^/?#\s\"]+")


class AccessLogWithoutTokens(Logger):
    def atoms(self, resp, req, environ, request_time):  # noqa: ANN001, ANN201
        atoms = super().atoms(resp, req, environ, request_time)
        for key in ("r", "U"):
            if isinstance(atoms.get(key), str):
                atoms[key] = SECRET_PATHS.sub(r"\1[token]", atoms[key])
        return atoms


logger_class = AccessLogWithoutTokens


def on_starting(server) -> None:  # noqa: ANN001
    storage = os.environ.get("RATELIMIT_STORAGE_URI", "") or "memory://"
    if storage.startswith("memory://") and server.cfg.workers > 1:
        server.log.warning(
            "RATELIMIT_STORAGE_URI is memory:// with %d workers: rate limits are counted per "
            "process (each worker allows the full limit). Set RATELIMIT_STORAGE_URI=redis://... "
            "to share them across workers and hosts.", server.cfg.workers,
        )
    logging.getLogger("gunicorn.error").info("storefront: %d workers", server.cfg.workers)
