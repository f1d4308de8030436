"""The process-wide services, one typed object, and how request code reaches them.

``app.main`` builds one ``Services`` (settings, secret box and metrics at once; the engine,
the shared httpx client, caches and the rest in the lifespan) and puts it on the app. Code
reaches a service by its type, through an ``Annotated`` dependency each package declares
where the type lives (``SettingsDep`` here, ``LoginDep`` in ``app.login.routes``, ...), or,
on the few hot paths that take only the request, through ``services(request).get(Type)``.
Keyed by type, the registry sits on the shared ground and imports none of the packages whose
services it holds.

Dependencies are ``async def``: FastAPI runs plain ``def`` dependencies in a thread pool.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Annotated, Any, TypeVar, cast

import httpx
from fastapi import Depends, Request

from app.config import Settings
from app.crypto import SecretBox

T = TypeVar("T")


class Services:
    """The app's services by type: one of each."""

    def __init__(self, *values: object) -> None:
        self._by_type: dict[type[Any], object] = {}
        for value in values:
            self.add(value)

    def add(self, value: object) -> None:
        """Hold ``value`` as the service of its type and of the types it derives from (the
        shared client is httpx's AsyncClient, subclassed), replacing any held before: tests
        swap in doubles this way."""
        for kind in type(value).__mro__[:-1]:  # all but object
            self._by_type[kind] = value

    def get(self, kind: type[T]) -> T:
        try:
            return cast(T, self._by_type[kind])
        except KeyError:
            raise LookupError(
                f"no {kind.__name__} service (is the app's lifespan running?)"
            ) from None


def services(request: Request) -> Services:
    held: Services = request.app.state.services
    return held


def provided(kind: type[T]) -> Callable[[Request], Awaitable[T]]:
    """A dependency that hands a route the service of type ``kind``."""

    async def dependency(request: Request) -> T:
        return services(request).get(kind)

    dependency.__name__ = f"provided_{kind.__name__}"
    return dependency


SettingsDep = Annotated[Settings, Depends(provided(Settings))]
SecretBoxDep = Annotated[SecretBox, Depends(provided(SecretBox))]
HttpDep = Annotated[httpx.AsyncClient, Depends(provided(httpx.AsyncClient))]
