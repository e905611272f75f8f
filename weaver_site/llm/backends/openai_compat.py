"""Any OpenAI-compatible server (OpenAI, vLLM, Ollama, llama.cpp server, DeepSeek, Qwen).

Speaks the chat-completions protocol (``POST {base_url}/chat/completions``, bearer key) over
one pooled aiohttp session per batch. The ``openai`` SDK does the same with more work per
request: on this project's 2-core benchmark it capped a process at about 280 calls/s where
aiohttp reaches 300 (ideal 320), so the gateway talks HTTP itself, and makes no retries of its
own below the gateway's.
"""

from __future__ import annotations

import email.utils
import json
import time

import aiohttp

from . import Completion, PermanentError, RetryableError


def parse_retry_after(headers) -> float | None:
    """Seconds from a ``Retry-After`` (or ``retry-after-ms``) header, if any."""
    if headers is None:
        return None
    ms = headers.get("retry-after-ms")
    if ms:
        try:
            return max(0.0, float(ms) / 1000)
        except ValueError:
            pass
    value = headers.get("retry-after")
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        try:
            parsed = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return None
        return max(0.0, parsed.timestamp() - time.time())


def _error_details(body: bytes) -> tuple[str, str]:
    """(message, code) from an OpenAI-style error body, or the body's start."""
    try:
        data = json.loads(body)
    except ValueError:
        return body[:300].decode(errors="replace").strip() or "no details", ""
    error = data.get("error", data) if isinstance(data, dict) else {}
    if isinstance(error, dict):
        return str(error.get("message") or error)[:1000], str(error.get("code") or "")
    return str(error)[:1000], ""


def _is_context_error(message: str, code: str) -> bool:
    text = message.lower()
    return code == "context_length_exceeded" or "context length" in text or "too long" in text


class OpenAIBackend:
    def __init__(self, endpoint):
        self.endpoint = endpoint
        self.url = endpoint.base_url.rstrip("/") + "/chat/completions"
        self._session: aiohttp.ClientSession | None = None

    def _get_session(self) -> aiohttp.ClientSession:
        if self._session is None:
            headers = {"Content-Type": "application/json"}
            key = self.endpoint.api_key()
            if key:
                headers["Authorization"] = f"Bearer {key}"
            self._session = aiohttp.ClientSession(
                headers=headers,
                connector=aiohttp.TCPConnector(limit=self.endpoint.max_concurrency + 4),
                timeout=aiohttp.ClientTimeout(total=self.endpoint.timeout_seconds),
                json_serialize=json.dumps,
            )
        return self._session

    async def aclose(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def chat(self, messages, params, *, json_mode: str, schema: dict | None) -> Completion:
        body = {"model": self.endpoint.model, "messages": messages, **params}
        if schema is not None and json_mode == "json_schema":
            body["response_format"] = {
                "type": "json_schema",
                "json_schema": {"name": "answer", "schema": schema},
            }
        elif schema is not None and json_mode == "json_object":
            body["response_format"] = {"type": "json_object"}
        try:
            async with self._get_session().post(self.url, json=body) as response:
                raw = await response.read()
                status, headers = response.status, response.headers
        except (TimeoutError, aiohttp.ServerTimeoutError):
            raise RetryableError(f"timed out after {self.endpoint.timeout_seconds:g}s") from None
        except aiohttp.ClientError as exc:
            raise RetryableError(f"connection failed: {exc.__class__.__name__}: {exc}") from None
        if status != 200:
            message, code = _error_details(raw)
            if status in (408, 409, 429) or status >= 500:
                raise RetryableError(
                    f"HTTP {status}: {message}",
                    status=status,
                    retry_after=parse_retry_after(headers),
                )
            if _is_context_error(message, code):
                raise PermanentError(f"context too long: {message}", status=status)
            raise PermanentError(f"HTTP {status}: {message}", status=status)
        try:
            data = json.loads(raw)
            choice = data["choices"][0]
            text = choice["message"].get("content") or ""
        except (ValueError, KeyError, IndexError, TypeError, AttributeError):
            raise RetryableError(
                f"the server's answer is not a chat completion: {raw[:200]!r}"
            ) from None
        usage = data.get("usage") or {}
        return Completion(
            text=text,
            input_tokens=int(usage.get("prompt_tokens") or 0),
            output_tokens=int(usage.get("completion_tokens") or 0),
            finish_reason=choice.get("finish_reason") or "stop",
        )
