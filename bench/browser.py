"""A minimal keep-alive HTTP/1.1 client with a cookie jar, to play browsers in the benchmarks.

httpx costs about a millisecond of CPU per request on a small machine; the benchmark's
browsers share the cores with the app they measure, so they use this instead (GET, and
POST of a form; responses with a Content-Length, which is all the app's login responses are).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from urllib.parse import urlencode, urlsplit


@dataclass
class Page:
    status: int
    headers: dict[str, str]
    body: bytes


@dataclass
class Browser:
    origin: str
    cookies: dict[str, str] = field(default_factory=dict)
    _reader: asyncio.StreamReader | None = None
    _writer: asyncio.StreamWriter | None = None

    async def get(self, path: str) -> Page:
        return await self._send("GET", path, b"")

    async def post_form(self, path: str, fields: dict[str, str]) -> Page:
        """A form POST, as a browser submits the auto-posting form a SAML IdP answers with."""
        return await self._send("POST", path, urlencode(fields).encode())

    async def _send(self, method: str, path: str, body: bytes) -> Page:
        if self._writer is None or self._writer.is_closing():
            parts = urlsplit(self.origin)
            self._reader, self._writer = await asyncio.open_connection(parts.hostname, parts.port)
        assert self._reader is not None
        host = urlsplit(self.origin).netloc
        # A browser's Accept: mod_auth_openidc (the reference) answers 401, not a redirect to
        # the IdP, to a request that does not accept HTML.
        lines = [f"{method} {path} HTTP/1.1", f"Host: {host}", "Accept: text/html"]
        if method == "POST":
            lines += [
                "Content-Type: application/x-www-form-urlencoded",
                f"Content-Length: {len(body)}",
            ]
        if self.cookies:
            lines.append("Cookie: " + "; ".join(f"{k}={v}" for k, v in self.cookies.items()))
        self._writer.write(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body)
        head = await self._reader.readuntil(b"\r\n\r\n")
        status_line, *header_lines = head.decode("latin-1").split("\r\n")
        headers: dict[str, str] = {}
        for line in header_lines:
            if not line:
                continue
            name, _, value = line.partition(":")
            name, value = name.strip().lower(), value.strip()
            if name == "set-cookie":
                self._keep_cookie(value)
            headers[name] = value
        body = await self._reader.readexactly(int(headers.get("content-length", "0")))
        if headers.get("connection", "").lower() == "close":
            await self.close()
        return Page(int(status_line.split(" ", 2)[1]), headers, body)

    def _keep_cookie(self, value: str) -> None:
        pair, _, attributes = value.partition(";")
        name, _, content = pair.partition("=")
        if "max-age=0" in attributes.lower().replace(" ", ""):
            self.cookies.pop(name.strip(), None)
        else:
            self.cookies[name.strip()] = content.strip()

    async def close(self) -> None:
        if self._writer is not None:
            self._writer.close()
            self._writer = None
