"""A PostgreSQL server that refuses every connection with one error, as a real one does while
it starts up, shuts down or has no connection slot left: the SSL request is declined, then the
startup message is answered with an ErrorResponse (protocol 3.0, "Message Formats")."""

from __future__ import annotations

import asyncio
import struct
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

SSL_REQUEST, GSSENC_REQUEST = 80877103, 80877104


def error_response(sqlstate: str, message: str) -> bytes:
    fields = (("S", "FATAL"), ("V", "FATAL"), ("C", sqlstate), ("M", message))
    body = b"".join(kind.encode() + text.encode() + b"\0" for kind, text in fields) + b"\0"
    return b"E" + struct.pack("!I", len(body) + 4) + body


@asynccontextmanager
async def refusing_postgres(sqlstate: str, message: str) -> AsyncIterator[int]:
    """Serve on a loopback port (yielded) until the block ends."""

    async def refuse(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                (length,) = struct.unpack("!I", await reader.readexactly(4))
                body = await reader.readexactly(length - 4)
                if struct.unpack("!I", body[:4])[0] in (SSL_REQUEST, GSSENC_REQUEST):
                    writer.write(b"N")  # no encryption here; go on in plain text
                    continue
                writer.write(error_response(sqlstate, message))
                await writer.drain()
                return
        except (asyncio.IncompleteReadError, ConnectionError):
            return
        finally:
            writer.close()

    server = await asyncio.start_server(refuse, "127.0.0.1", 0)
    try:
        yield server.sockets[0].getsockname()[1]
    finally:
        server.close()
        await server.wait_closed()
