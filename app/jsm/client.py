"""A small Jira REST client over the app's shared ``httpx.AsyncClient``.

Robust by construction:

* ``429`` waits as long as ``Retry-After`` (seconds or an HTTP date) or ``X-RateLimit-Reset``
  says, when that fits the remaining time budget;
* transient ``5xx`` and connection errors are retried with full-jitter exponential backoff;
* both bounded in attempts and in total time;
* a request that is not safe to repeat (most POSTs) is retried only after a ``429`` (Jira did
  not process it) unless the caller marks it ``retry_safe``;
* failures surface as ``JiraError`` carrying Jira's own error messages.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any

import httpx

from app.errors import JiraError
from app.jsm.schemas import M, parse
from app.outbound import MAX_RESPONSE_BYTES

logger = logging.getLogger(__name__)
_TRANSIENT = frozenset({500, 502, 503, 504})
# A page of 50 requests or comments with their fields is well under 1 MiB; room to spare.
JIRA_MAX_RESPONSE_BYTES = 16 * 1024 * 1024


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    attempts: int = 4
    base_delay: float = 0.25
    max_delay: float = 4.0
    budget_seconds: float = 12.0


def retry_after_seconds(response: httpx.Response, *, now: datetime | None = None) -> float | None:
    """How long Jira asks us to wait: ``Retry-After`` (RFC 9110 10.2.3) or ``X-RateLimit-Reset``."""
    now = now or datetime.now(UTC)
    value = response.headers.get("retry-after")
    if value:
        value = value.strip()
        if value.isdigit():
            return float(value)
        try:
            when = parsedate_to_datetime(value)
        except (TypeError, ValueError):
            when = None
        if when is not None:
            return max(0.0, (when - now).total_seconds())
    reset = response.headers.get("x-ratelimit-reset")
    if reset:
        try:
            when = datetime.fromisoformat(reset.strip().replace("Z", "+00:00"))
        except ValueError:
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        return max(0.0, (when - now).total_seconds())
    return None


def error_messages(response: httpx.Response) -> list[str]:
    try:
        body = response.json()
    except ValueError:
        return []
    if not isinstance(body, dict):
        return []
    messages: list[str] = []
    for message in body.get("errorMessages") or []:
        messages.append(str(message))
    if isinstance(body.get("errorMessage"), str):
        messages.append(body["errorMessage"])
    errors = body.get("errors")
    if isinstance(errors, dict):
        messages.extend(f"{field}: {text}" for field, text in errors.items())
    return messages


class JiraClient:
    def __init__(
        self,
        http: httpx.AsyncClient,
        *,
        base_url: str,
        auth: httpx.Auth,
        policy: RetryPolicy | None = None,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        clock: Callable[[], float] = time.monotonic,
        observe: Callable[[str, int, float], None] | None = None,
    ) -> None:
        self._http = http
        self._base_url = base_url.rstrip("/")
        self._auth = auth
        self._policy = policy or RetryPolicy()
        self._sleep = sleep
        self._clock = clock
        self._observe = observe

    async def request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        json: Any = None,
        files: Any = None,
        headers: Mapping[str, str] | None = None,
        retry_safe: bool | None = None,
        ok: tuple[int, ...] = (200, 201, 204),
    ) -> httpx.Response:
        """Send one request, retrying as the module docstring says; raise ``JiraError``."""
        if retry_safe is None:
            retry_safe = method.upper() in ("GET", "HEAD", "PUT", "DELETE")
        deadline = self._clock() + self._policy.budget_seconds
        attempt = 0
        while True:
            attempt += 1
            started = time.perf_counter()
            try:
                response = await self._http.request(
                    method,
                    f"{self._base_url}{path}",
                    params=params,
                    json=json,
                    files=files,
                    headers={"Accept": "application/json", **(headers or {})},
                    auth=self._auth,
                    extensions={MAX_RESPONSE_BYTES: JIRA_MAX_RESPONSE_BYTES},
                )
            except httpx.TimeoutException as e:
                self._record(method, 0, started)
                delay = self._backoff(attempt, deadline, allowed=retry_safe)
                if delay is None:
                    raise JiraError("Jira did not answer in time", status_code=504) from e
                await self._sleep(delay)
                continue
            except httpx.HTTPError as e:
                self._record(method, 0, started)
                delay = self._backoff(attempt, deadline, allowed=retry_safe)
                if delay is None:
                    raise JiraError("Jira could not be reached", status_code=502) from e
                await self._sleep(delay)
                continue
            self._record(method, response.status_code, started)
            if response.status_code in ok:
                return response
            if response.status_code == 429:
                wanted = retry_after_seconds(response)
                delay = self._backoff(attempt, deadline, allowed=True, at_least=wanted)
                if delay is None:
                    raise JiraError(
                        "Jira is rate-limiting the app; please try again in a minute",
                        status_code=503,
                        jira_status=429,
                    )
                logger.info("jira rate limit: waiting %.1fs (%s %s)", delay, method, path)
                await self._sleep(delay)
                continue
            if response.status_code in _TRANSIENT:
                delay = self._backoff(attempt, deadline, allowed=retry_safe)
                if delay is not None:
                    await self._sleep(delay)
                    continue
            raise self._error(response)

    def _record(self, method: str, status: int, started: float) -> None:
        if self._observe is not None:
            self._observe(method, status, time.perf_counter() - started)

    def _backoff(
        self, attempt: int, deadline: float, *, allowed: bool, at_least: float | None = None
    ) -> float | None:
        if not allowed or attempt >= self._policy.attempts:
            return None
        ceiling = min(self._policy.max_delay, self._policy.base_delay * 2 ** (attempt - 1))
        delay = random.uniform(0, ceiling)  # noqa: S311 - jitter, not security
        if at_least is not None:
            delay = max(delay, at_least)
        if self._clock() + delay > deadline:
            return None
        return delay

    @staticmethod
    def _error(response: httpx.Response) -> JiraError:
        messages = error_messages(response)
        detail = "; ".join(messages)[:500]
        status = response.status_code
        summary = {
            400: "Jira refused the request",
            401: "Jira did not accept the app's credentials",
            403: "the app is not allowed to do this in Jira",
            404: "Jira could not find it",
        }.get(status, f"Jira answered HTTP {status}")
        return JiraError(
            f"{summary}: {detail}" if detail else summary,
            status_code=404 if status == 404 else 502,
            jira_status=status,
            error_messages=messages,
        )

    async def get_json(
        self, path: str, *, params: Mapping[str, Any] | None = None, **kwargs: Any
    ) -> Any:
        response = await self.request("GET", path, params=params, **kwargs)
        return _json(response)

    async def post_json(self, path: str, json: Any, **kwargs: Any) -> Any:
        response = await self.request("POST", path, json=json, **kwargs)
        return _json(response) if response.content else None

    async def paged(
        self,
        path: str,
        model: type[M],
        *,
        what: str,
        params: Mapping[str, Any] | None = None,
        limit: int = 50,
        **kwargs: Any,
    ) -> AsyncIterator[M]:
        """Every value of a JSM paged endpoint (``start``/``limit``/``isLastPage``), each
        parsed as ``model`` (``what`` names it in the error when one does not fit)."""
        start = 0
        while True:
            page = await self.get_json(
                path, params={**(params or {}), "start": start, "limit": limit}, **kwargs
            )
            values = page.get("values") if isinstance(page, dict) else None
            if not isinstance(values, list):
                raise JiraError("Jira returned an unexpected page")
            for value in values:
                yield parse(model, value, what)
            if page.get("isLastPage", True) or not values:
                return
            start += len(values)


def _json(response: httpx.Response) -> Any:
    try:
        return response.json()
    except ValueError as e:
        raise JiraError("Jira returned something that is not JSON") from e
