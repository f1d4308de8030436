"""The one outbound HTTP client: no cookies kept, and its own asyncio network layer, tested
against real loopback servers (plain and TLS) for what httpx relies on it to do."""

from __future__ import annotations

import asyncio
import contextlib
import datetime
import gzip
import socket
import ssl
import struct
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
import respx
import uvloop
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from fastapi import FastAPI

from app.errors import IdentityProviderError
from app.models import IdentityProvider
from app.oidc.flow import fetch_userinfo, redeem_code
from app.oidc.metadata import MetadataCache, ProviderMetadata
from app.outbound import (
    DEFAULT_MAX_RESPONSE_BYTES,
    MAX_RESPONSE_BYTES,
    AddressPolicy,
    ResponseTooLargeError,
    check_addresses,
    create_http_client,
    first_to_connect,
    interleave_families,
)

Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]
Runner = Callable[[Coroutine[Any, Any, None]], None]


@pytest.fixture(params=["asyncio", "uvloop"])
def run_on(request: pytest.FixtureRequest) -> Runner:
    """Runs a scenario on asyncio's loop, then on uvloop's: uvicorn serves the app on uvloop,
    which lacks some of asyncio's options (``happy_eyeballs_delay``, for one)."""
    runner: Runner = asyncio.run if request.param == "asyncio" else uvloop.run
    return runner


async def test_cookies_set_by_one_site_never_reach_another(
    app: FastAPI, network: respx.MockRouter
) -> None:
    network.get("https://acme.atlassian.net/rest/api/3/myself").respond(
        200,
        json={},
        headers={"Set-Cookie": "tenant.session=acme-secret; Domain=.atlassian.net; Path=/; Secure"},
    )
    other = network.get("https://globex.atlassian.net/rest/api/3/myself").respond(200, json={})
    http: httpx.AsyncClient = app.state.services.get(httpx.AsyncClient)
    await http.get("https://acme.atlassian.net/rest/api/3/myself")
    await http.get("https://globex.atlassian.net/rest/api/3/myself")
    assert "cookie" not in other.calls.last.request.headers
    assert len(http.cookies.jar) == 0  # nothing kept, so nothing grows either


async def test_the_apps_client_keeps_to_the_address_policy(app: FastAPI) -> None:
    http: httpx.AsyncClient = app.state.services.get(httpx.AsyncClient)
    with pytest.raises(httpx.ConnectError, match="not on the public internet"):
        await http.get("http://127.0.0.1:9/")


def test_a_client_of_another_shape_stops_the_app_instead_of_losing_the_policy() -> None:
    other = httpx.AsyncClient(transport=httpx.MockTransport(lambda _: httpx.Response(200)))
    with pytest.raises(RuntimeError, match="changed shape"):
        check_addresses(other)


@pytest.mark.parametrize(
    ("address", "default", "with_loopback", "with_private"),
    [
        ("93.184.216.34", True, True, True),
        ("2606:4700::1111", True, True, True),
        ("127.0.0.1", False, True, True),
        ("::1", False, True, True),
        ("10.0.0.5", False, False, True),
        ("172.16.0.1", False, False, True),
        ("192.168.1.1", False, False, True),
        ("169.254.169.254", False, False, True),  # cloud metadata services
        ("100.64.0.1", False, False, True),  # carrier-grade NAT
        ("fd00::1", False, False, True),
        ("fe80::1%eth0", False, False, True),
        # IPv6 forms carrying an IPv4 address answer for it: no way around the rule.
        ("::ffff:10.0.0.5", False, False, True),  # IPv4-mapped
        ("::ffff:127.0.0.1", False, True, True),
        ("64:ff9b::a9fe:a9fe", False, False, True),  # NAT64 of 169.254.169.254
        ("64:ff9b::808:808", True, True, True),  # NAT64 of a public address
        ("2002:a00:1::", False, False, True),  # 6to4 of 10.0.0.1
        ("::a00:1", False, False, True),  # IPv4-compatible 10.0.0.1
        ("0.0.0.0", False, False, False),  # noqa: S104 - an address to refuse, not bind
    ],
)
def test_outbound_connections_reach_public_addresses_unless_the_operator_allows_more(
    address: str, default: bool, with_loopback: bool, with_private: bool
) -> None:
    assert AddressPolicy().permits(address) is default
    assert AddressPolicy(allow_loopback=True).permits(address) is with_loopback
    assert AddressPolicy(allow_private=True).permits(address) is with_private


# --- a minimal HTTP/1.1 server on loopback -------------------------------------------------


async def _request(reader: asyncio.StreamReader) -> bool:
    """Read one request (headers and a Content-Length body); False at end of stream."""
    try:
        head = await reader.readuntil(b"\r\n\r\n")
    except asyncio.IncompleteReadError:
        return False
    for line in head.split(b"\r\n"):
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            await reader.readexactly(int(value))
    return True


def _response(body: bytes) -> bytes:
    return b"HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\ncontent-length: %d\r\n\r\n%s" % (
        len(body),
        body,
    )


def answers(body: bytes, *, then_close: bool = False) -> Handler:
    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while await _request(reader):
            writer.write(_response(body))
            await writer.drain()
            if then_close:
                break
        writer.close()

    return handle


async def never_answers(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    await reader.read()  # until the client gives up and closes
    writer.close()


async def never_reads(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    del reader
    await asyncio.sleep(5)  # the client's upload fills the socket buffers and stalls
    writer.close()


async def resets_mid_answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    await _request(reader)
    writer.write(b"HTTP/1.1 200 OK\r\ncontent-length: 100\r\n\r\npartial")
    await writer.drain()
    sock = writer.get_extra_info("socket")
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))  # RST
    writer.close()


@asynccontextmanager
async def loopback_server(
    handle: Handler, *, tls: ssl.SSLContext | None = None
) -> AsyncIterator[tuple[int, list[int]]]:
    """Serves on a free loopback port; yields it and a list that grows by one per connection."""
    connections: list[int] = []
    writers: list[asyncio.StreamWriter] = []

    async def counted(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        connections.append(len(connections))
        writers.append(writer)
        try:
            await handle(reader, writer)
        except (ConnectionError, ssl.SSLError, asyncio.IncompleteReadError):
            writer.close()

    server = await asyncio.start_server(counted, "127.0.0.1", 0, ssl=tls)
    try:
        yield server.sockets[0].getsockname()[1], connections
    finally:
        server.close()
        for writer in writers:  # Python 3.11's server leaves open connections open
            writer.close()
            with contextlib.suppress(ConnectionError, ssl.SSLError):
                await writer.wait_closed()
        await server.wait_closed()


# --- certificates ----------------------------------------------------------------------------


def _certificate(
    subject: str, key: ec.EllipticCurvePrivateKey, issuer: tuple[str, ec.EllipticCurvePrivateKey]
) -> x509.CertificateBuilder:
    now = datetime.datetime.now(datetime.UTC)
    return (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)]))
        .issuer_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, issuer[0])]))
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(hours=1))
    )


@pytest.fixture(scope="module")
def tls(tmp_path_factory: pytest.TempPathFactory) -> tuple[ssl.SSLContext, ssl.SSLContext]:
    """A test CA and a server certificate for "localhost" only: (server context, a client
    context that trusts the CA)."""
    ca_key, server_key = (
        ec.generate_private_key(ec.SECP256R1()),
        ec.generate_private_key(ec.SECP256R1()),
    )
    ca = (
        _certificate("Test CA", ca_key, ("Test CA", ca_key))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(ca_key, hashes.SHA256())
    )
    leaf = (
        _certificate("localhost", server_key, ("Test CA", ca_key))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost")]), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    folder: Path = tmp_path_factory.mktemp("tls")
    (folder / "server.pem").write_bytes(
        leaf.public_bytes(serialization.Encoding.PEM)
        + server_key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    server = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server.load_cert_chain(folder / "server.pem")
    client = ssl.create_default_context(cadata=ca.public_bytes(serialization.Encoding.PEM).decode())
    return server, client


LOOPBACK = AddressPolicy(allow_loopback=True)


async def close_socket(sock: socket.socket) -> None:
    sock.close()


def client(*, verify: ssl.SSLContext | bool = True, timeout: float = 5.0) -> httpx.AsyncClient:
    if verify is True:
        return create_http_client(timeout_seconds=timeout, policy=LOOPBACK)
    # httpx fixes the TLS context at construction: build one that trusts the test CA.
    http = httpx.AsyncClient(verify=verify, timeout=timeout)
    check_addresses(http, LOOPBACK)
    return http


# --- what httpx relies on the network layer for ----------------------------------------------


def test_plain_http_requests_reuse_one_connection(
    run_on: Runner,
) -> None:
    async def scenario() -> None:
        async with loopback_server(answers(b"hello")) as (port, connections), client() as http:
            for _ in range(3):
                response = await http.post(f"http://127.0.0.1:{port}/token", data={"code": "x"})
                assert response.text == "hello"
            stream = response.extensions["network_stream"]
            assert stream.get_extra_info("server_addr") == ("127.0.0.1", port)
            assert stream.get_extra_info("client_addr")[0] == "127.0.0.1"
            assert stream.get_extra_info("ssl_object") is None
        assert len(connections) == 1  # keep-alive

    run_on(scenario())


def test_tls_with_a_trusted_certificate_for_the_host(
    run_on: Runner,
    tls: tuple[ssl.SSLContext, ssl.SSLContext],
) -> None:
    async def scenario() -> None:
        server, trusting = tls
        big = bytes(range(256)) * 4096  # 1 MiB: more than the stream buffers before pausing
        async with (
            loopback_server(answers(big), tls=server) as (port, _),
            client(verify=trusting) as http,
        ):
            response = await http.get(f"https://localhost:{port}/jwks")
            assert response.content == big
            again = await http.get(f"https://localhost:{port}/jwks")
            assert again.content == big
            stream = response.extensions["network_stream"]
            assert stream.get_extra_info("ssl_object").version().startswith("TLS")

    run_on(scenario())


def test_tls_refuses_a_certificate_for_another_host(
    run_on: Runner,
    tls: tuple[ssl.SSLContext, ssl.SSLContext],
) -> None:
    async def scenario() -> None:
        server, trusting = tls
        async with loopback_server(answers(b"x"), tls=server) as (port, _):
            async with client(verify=trusting) as http:
                with pytest.raises(httpx.ConnectError, match=r"IP address mismatch|doesn.t match"):
                    await http.get(f"https://127.0.0.1:{port}/")  # the certificate names localhost

    run_on(scenario())


def test_tls_refuses_a_certificate_no_trusted_authority_signed(
    run_on: Runner,
    tls: tuple[ssl.SSLContext, ssl.SSLContext],
) -> None:
    async def scenario() -> None:
        server, _ = tls
        async with loopback_server(answers(b"x"), tls=server) as (port, _), client() as http:
            with pytest.raises(httpx.ConnectError, match="CERTIFICATE_VERIFY_FAILED"):
                await http.get(f"https://localhost:{port}/")

    run_on(scenario())


def test_a_server_that_never_answers_times_out(
    run_on: Runner,
) -> None:
    async def scenario() -> None:
        async with loopback_server(never_answers) as (port, _), client(timeout=0.2) as http:
            with pytest.raises(httpx.ReadTimeout):
                await http.get(f"http://127.0.0.1:{port}/token")

    run_on(scenario())


# --- hostile answers: what a tenant's admin can point an IdP URL at -------------------------


def answers_raw(head: bytes, body: Callable[[], AsyncIterator[bytes]]) -> Handler:
    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await _request(reader)
        writer.write(head)
        async for part in body():
            writer.write(part)
            await writer.drain()
        writer.close()

    return handle


def chunked(part: bytes) -> bytes:
    return b"%x\r\n%s\r\n" % (len(part), part)


async def endless() -> AsyncIterator[bytes]:
    while True:
        yield chunked(b"x" * 65536)


async def trickle() -> AsyncIterator[bytes]:
    while True:
        await asyncio.sleep(0.05)
        yield chunked(b"{")


async def nothing() -> AsyncIterator[bytes]:
    return
    yield b""


CHUNKED = b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ntransfer-encoding: chunked\r\n\r\n"


def test_an_endless_answer_is_cut_off_at_the_size_limit(run_on: Runner) -> None:
    async def scenario() -> None:
        async with loopback_server(answers_raw(CHUNKED, endless)) as (port, _), client() as http:
            with pytest.raises(ResponseTooLargeError):
                await http.get(f"http://127.0.0.1:{port}/.well-known/openid-configuration")

    run_on(scenario())


def test_a_declared_size_over_the_limit_is_refused_before_reading(run_on: Runner) -> None:
    head = b"HTTP/1.1 200 OK\r\ncontent-length: %d\r\n\r\n" % (DEFAULT_MAX_RESPONSE_BYTES + 1)

    async def scenario() -> None:
        async with loopback_server(answers_raw(head, nothing)) as (port, _), client() as http:
            with pytest.raises(ResponseTooLargeError):
                await http.get(f"http://127.0.0.1:{port}/jwks")

    run_on(scenario())


def test_a_small_gzip_that_inflates_past_the_limit_is_refused(run_on: Runner) -> None:
    bomb = gzip.compress(b"\0" * (DEFAULT_MAX_RESPONSE_BYTES * 4))
    assert len(bomb) < DEFAULT_MAX_RESPONSE_BYTES // 100
    head = b"HTTP/1.1 200 OK\r\ncontent-encoding: gzip\r\ncontent-length: %d\r\n\r\n" % len(bomb)

    async def body() -> AsyncIterator[bytes]:
        yield bomb

    async def scenario() -> None:
        async with loopback_server(answers_raw(head, body)) as (port, _), client() as http:
            with pytest.raises(ResponseTooLargeError):
                await http.post(f"http://127.0.0.1:{port}/token", data={"code": "x"})

    run_on(scenario())


def test_an_answer_trickled_byte_by_byte_ends_at_the_total_time_limit(run_on: Runner) -> None:
    """Each byte comes well within the read timeout; the whole answer never does."""

    async def scenario() -> None:
        async with (
            loopback_server(answers_raw(CHUNKED, trickle)) as (port, _),
            client(timeout=0.3) as http,
        ):
            started = time.monotonic()
            with pytest.raises(httpx.ReadTimeout, match=r"no complete answer within 0\.6 s"):
                await http.get(f"http://127.0.0.1:{port}/userinfo")
            assert time.monotonic() - started < 2

    run_on(scenario())


def test_a_request_may_allow_a_larger_answer(run_on: Runner) -> None:
    big = b"x" * (DEFAULT_MAX_RESPONSE_BYTES + 1)

    async def scenario() -> None:
        async with loopback_server(answers(big)) as (port, _), client() as http:
            with pytest.raises(ResponseTooLargeError):
                await http.get(f"http://127.0.0.1:{port}/rest/servicedeskapi/request")
            response = await http.get(
                f"http://127.0.0.1:{port}/rest/servicedeskapi/request",
                extensions={MAX_RESPONSE_BYTES: len(big)},
            )
            assert response.content == big

    run_on(scenario())


def test_a_connection_reset_mid_answer_is_a_read_error(run_on: Runner) -> None:
    async def scenario() -> None:
        async with loopback_server(resets_mid_answer) as (port, _), client() as http:
            with pytest.raises(httpx.ReadError):
                await http.get(f"http://127.0.0.1:{port}/token")

    run_on(scenario())


def test_a_server_that_stops_reading_an_upload_times_out(run_on: Runner) -> None:
    async def scenario() -> None:
        async with loopback_server(never_reads) as (port, _), client(timeout=0.3) as http:
            with pytest.raises(httpx.WriteTimeout):
                await http.post(f"http://127.0.0.1:{port}/upload", content=b"x" * 32_000_000)

    run_on(scenario())


def test_a_tls_handshake_that_never_completes_times_out(run_on: Runner) -> None:
    async def scenario() -> None:
        # A plain TCP server: the client's TLS hello is never answered.
        async with (
            loopback_server(never_answers) as (port, _),
            # The app's own client gives connecting 5 s; this one 0.3 s for every phase.
            client(verify=ssl.create_default_context(), timeout=0.3) as http,
        ):
            with pytest.raises(httpx.ConnectTimeout):
                await http.get(f"https://localhost:{port}/")

    run_on(scenario())


def test_nothing_listening_is_a_connect_error(
    run_on: Runner,
) -> None:
    async def scenario() -> None:
        async with loopback_server(answers(b"x")) as (port, _):
            pass  # the port is free again
        async with client() as http:
            with pytest.raises(httpx.ConnectError):
                await http.get(f"http://127.0.0.1:{port}/")

    run_on(scenario())


def test_a_connection_the_server_closed_while_idle_is_not_reused(
    run_on: Runner,
) -> None:
    async def scenario() -> None:
        async with (
            loopback_server(answers(b"ok", then_close=True)) as (port, connections),
            client() as http,
        ):
            assert (await http.get(f"http://127.0.0.1:{port}/a")).text == "ok"
            await asyncio.sleep(0.05)  # the server's close reaches the client
            assert (await http.get(f"http://127.0.0.1:{port}/b")).text == "ok"
        assert len(connections) == 2

    run_on(scenario())


# --- RFC 8305 connection racing --------------------------------------------------------------


def test_the_next_address_is_tried_when_one_hangs(
    run_on: Runner,
) -> None:
    async def scenario() -> None:
        cancelled = asyncio.Event()

        async def hangs() -> socket.socket:
            try:
                await asyncio.Event().wait()
            finally:
                cancelled.set()
            raise AssertionError("unreachable")

        async with loopback_server(answers(b"x")) as (port, connections):

            async def connects() -> socket.socket:
                sock = socket.socket()
                sock.setblocking(False)
                await asyncio.get_running_loop().sock_connect(sock, ("127.0.0.1", port))
                return sock

            async with asyncio.timeout(5):
                sock = await first_to_connect([hangs, connects], delay=0.05, close=close_socket)
            sock.close()
            assert cancelled.is_set()  # the hanging attempt does not linger
            await asyncio.sleep(0.05)
            assert len(connections) == 1

    run_on(scenario())


def test_a_refused_address_moves_on_at_once_and_the_last_error_is_reported(
    run_on: Runner,
) -> None:
    async def scenario() -> None:
        tried: list[str] = []

        def refuses(name: str) -> Callable[[], Awaitable[socket.socket]]:
            async def attempt() -> socket.socket:
                tried.append(name)
                raise ConnectionRefusedError(f"{name} refused")

            return attempt

        async with asyncio.timeout(5):  # far less than the 60 s delay: no waiting after a refusal
            with pytest.raises(ConnectionRefusedError, match="second refused"):
                await first_to_connect(
                    [refuses("first"), refuses("second")], delay=60, close=close_socket
                )
        assert tried == ["first", "second"]

    run_on(scenario())


def test_a_slow_only_address_still_connects_after_the_delay(run_on: Runner) -> None:
    async def scenario() -> None:
        async with loopback_server(answers(b"x")) as (port, _):

            async def slow() -> socket.socket:
                await asyncio.sleep(0.1)  # longer than the delay, with nothing left to start
                sock = socket.socket()
                sock.setblocking(False)
                await asyncio.get_running_loop().sock_connect(sock, ("127.0.0.1", port))
                return sock

            async with asyncio.timeout(5):
                sock = await first_to_connect([slow], delay=0.01, close=close_socket)
            assert sock.getpeername() == ("127.0.0.1", port)
            sock.close()

    run_on(scenario())


def test_addresses_alternate_between_families() -> None:
    v6, v4 = socket.AF_INET6, socket.AF_INET
    addresses = [(v6, "a"), (v6, "b"), (v6, "c"), (v4, "x")]
    assert [a[1] for a in interleave_families(addresses)] == ["a", "x", "b", "c"]


def test_a_loopback_server_is_not_called_without_permission(run_on: Runner) -> None:
    async def scenario() -> None:
        async with (
            loopback_server(answers(b"x")) as (port, connections),
            create_http_client(timeout_seconds=5) as http,
        ):
            with pytest.raises(httpx.ConnectError, match="not on the public internet"):
                await http.get(f"http://127.0.0.1:{port}/")
            with pytest.raises(httpx.ConnectError, match="not on the public internet"):
                await http.get(f"http://localhost:{port}/")  # by name: checked once resolved
        assert connections == []

    run_on(scenario())


async def test_an_idp_on_a_private_address_gets_a_clear_refusal() -> None:
    async with create_http_client(timeout_seconds=5) as http:
        cache = MetadataCache(http, allow_http_loopback=False)
        with pytest.raises(IdentityProviderError, match="calls public addresses only"):
            await cache.discovery("https://10.20.30.40/realms/corp")


async def test_token_and_userinfo_endpoints_on_a_private_address_say_so() -> None:
    """A public discovery document may still point its other endpoints inside the network."""
    metadata = ProviderMetadata(
        kind="oidc",
        issuer="https://idp.example.com",
        authorization_endpoint="https://idp.example.com/authorize",
        token_endpoint="https://10.20.30.40/token",
        userinfo_endpoint="https://169.254.169.254/userinfo",
        jwks_uri="https://idp.example.com/jwks",
    )
    idp = IdentityProvider(preset="oidc", client_id="c", token_auth_method="client_secret_basic")
    async with create_http_client(timeout_seconds=5) as http:
        with pytest.raises(IdentityProviderError, match="token endpoint is not on the public"):
            await redeem_code(
                http,
                idp=idp,
                metadata=metadata,
                client_secret="s",
                code="code",
                redirect_uri="https://app.example.com/cb",
                code_verifier="v",
            )
        with pytest.raises(IdentityProviderError, match="userinfo endpoint is not on the public"):
            await fetch_userinfo(http, metadata=metadata, access_token="at")


async def test_an_unreachable_idp_endpoint_is_not_called_private() -> None:
    """Other connection failures keep saying "not reachable": retrying may help them."""
    async with respx.mock() as mock:
        mock.post("https://idp.example.com/token").mock(side_effect=httpx.ConnectError("down"))
        async with httpx.AsyncClient() as http:
            metadata = ProviderMetadata(
                kind="oidc",
                issuer="https://idp.example.com",
                authorization_endpoint="https://idp.example.com/authorize",
                token_endpoint="https://idp.example.com/token",
                userinfo_endpoint=None,
                jwks_uri=None,
            )
            with pytest.raises(IdentityProviderError, match=r"token endpoint is not reachable$"):
                await redeem_code(
                    http,
                    idp=IdentityProvider(preset="oidc", client_id="c"),
                    metadata=metadata,
                    client_secret=None,
                    code="code",
                    redirect_uri="https://app.example.com/cb",
                    code_verifier="v",
                )


async def test_an_idp_document_too_large_is_named_for_the_admin() -> None:
    async with (
        loopback_server(answers_raw(CHUNKED, endless)) as (port, _),
        client() as http,
    ):
        cache = MetadataCache(http, allow_http_loopback=True)
        with pytest.raises(IdentityProviderError, match="larger than this service accepts"):
            await cache.discovery(f"http://127.0.0.1:{port}")
