"""Backends answer one chat request. The gateway adds limits, retries, caching and budgets.

A backend is an object with ``async def chat(self, messages, params, *, json_mode, schema)``
returning :class:`Completion`, raising :class:`RetryableError` or :class:`PermanentError`.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class Completion:
    text: str
    input_tokens: int
    output_tokens: int
    finish_reason: str = "stop"
    latency_ms: int = 0


class BackendError(Exception):
    """A failed attempt. ``status`` is the HTTP status where there was one."""

    def __init__(
        self, message: str, *, status: int | None = None, retry_after: float | None = None
    ):
        super().__init__(message)
        self.status = status
        self.retry_after = retry_after


class RetryableError(BackendError):
    """Timeouts, dropped connections, 408/409/429/5xx: worth another attempt."""


class PermanentError(BackendError):
    """400/401/403/404/422, context too long, bad configuration: will not heal."""


def backend_for(endpoint):
    """The backend object for an endpoint (one per endpoint per process)."""
    from .. import models

    if endpoint.backend == models.Backend.TRANSFORMERS:
        from .local import TransformersBackend

        return TransformersBackend.for_endpoint(endpoint)
    from .openai_compat import OpenAIBackend

    return OpenAIBackend(endpoint)
