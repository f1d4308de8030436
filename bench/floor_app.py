"""A skeleton of a returning customer's login: the same I/O through the same parts, no logic.

Served by ``bench/floor.py`` in its own uvicorn process. Two requests per login, as the app's:

* ``GET /start``: one transaction with one INSERT (the login state); a 303 with a cookie.
* ``GET /callback``: one UPDATE ... RETURNING committed (the state spent), one POST to the
  IdP's token endpoint, then one transaction with a SELECT (the customer link) and two INSERTs
  (the session, the audit row); a 303 with a cookie.

No token is verified, nothing is encrypted, mapped or logged: what this costs is what the
web framework, the database layer and the HTTP client cost for that I/O, a floor under any
login the app could do with them. ``FLOOR_DATABASE`` picks the database layer (``sqlalchemy``,
an ORM session per request as the app uses it; ``core``, SQLAlchemy Core on a connection per
transaction; ``asyncpg`` raw; or ``none``); ``FLOOR_OUTBOUND`` the token call
(``httpx`` through the app's client, or ``none``).
"""

# No ``from __future__ import annotations``: the dependency alias is built inside create().
import os
import secrets
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

from fastapi import Depends, FastAPI, Request
from fastapi.responses import RedirectResponse, Response
from sqlalchemy import (
    Column,
    DateTime,
    Index,
    MetaData,
    String,
    Table,
    bindparam,
    insert,
    select,
    update,
)
from sqlalchemy.ext.asyncio import AsyncEngine

from app.db import create_engine, create_sessionmaker, get_session
from app.deps import HttpDep, Services, services
from app.idps.repository import digest
from app.outbound import AddressPolicy, create_http_client

metadata = MetaData()
states = Table(
    "floor_states",
    metadata,
    Column("state_hash", String(64), primary_key=True),
    Column("browser_hash", String(64), nullable=False),
    Column("nonce", String(64), nullable=False),
    Column("expires_at", DateTime(timezone=True), nullable=False),
    Column("used_at", DateTime(timezone=True)),
)
links = Table(
    "floor_links",
    metadata,
    Column("issuer", String(200), primary_key=True),
    Column("subject", String(200), primary_key=True),
    Column("account_id", String(64), nullable=False),
)
sessions = Table(
    "floor_sessions",
    metadata,
    Column("token_hash", String(64), primary_key=True),
    Column("account_id", String(64), nullable=False),
    Column("expires_at", DateTime(timezone=True), nullable=False),
)
audit = Table(
    "floor_audit",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("subject", String(200), nullable=False),
    Column("outcome", String(16), nullable=False),
    Column("at", DateTime(timezone=True), nullable=False),
    Index("floor_audit_at", "at"),
)

ISSUER = "https://idp.example"

# Built once, with bound parameters, as the app builds its login path's statements.
INSERT_STATE = insert(states)
SPEND_STATE = (
    update(states)
    .where(
        states.c.state_hash == bindparam("which"),
        states.c.used_at.is_(None),
        states.c.expires_at > bindparam("now"),
    )
    .values(used_at=bindparam("spent_at"))
    .returning(states.c.nonce)
)
LINK = select(links.c.account_id).where(
    links.c.issuer == bindparam("issuer"), links.c.subject == bindparam("subject")
)
INSERT_SESSION = insert(sessions)
INSERT_AUDIT = insert(audit)

# The raw asyncpg variant's statements, the same as SQLAlchemy's.
RAW_INSERT_STATE = (
    "INSERT INTO floor_states (state_hash, browser_hash, nonce, expires_at) VALUES ($1, $2, $3, $4)"
)
RAW_SPEND_STATE = (
    "UPDATE floor_states SET used_at = $1 WHERE state_hash = $2 AND used_at IS NULL "
    "AND expires_at > $1 RETURNING nonce"
)
RAW_LINK = "SELECT account_id FROM floor_links WHERE issuer = $1 AND subject = $2"
RAW_SESSION = "INSERT INTO floor_sessions (token_hash, account_id, expires_at) VALUES ($1, $2, $3)"
RAW_AUDIT = "INSERT INTO floor_audit (id, subject, outcome, at) VALUES ($1, $2, $3, $4)"


def engine_of(request: Request) -> Any:
    return services(request).get(AsyncEngine)


def create() -> FastAPI:
    database = os.environ.get("FLOOR_DATABASE", "sqlalchemy")
    outbound = os.environ.get("FLOOR_OUTBOUND", "httpx")
    token_url = os.environ["FLOOR_TOKEN_URL"]
    url = os.environ["FLOOR_DATABASE_URL"]

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        engine = create_engine(url)
        app.state.services = Services(engine, create_sessionmaker(engine))
        app.state.pool = None
        if database == "asyncpg":
            import asyncpg

            dsn = url.replace("postgresql+asyncpg://", "postgresql://")
            app.state.pool = await asyncpg.create_pool(dsn, min_size=10, max_size=20)
        async with create_http_client(
            timeout_seconds=10, policy=AddressPolicy(allow_loopback=True)
        ) as http:
            app.state.services.add(http)
            yield
        if app.state.pool is not None:
            await app.state.pool.close()
        await engine.dispose()

    app = FastAPI(lifespan=lifespan, openapi_url=None)

    async def no_session() -> None:
        return None

    # As the app's SessionDep (commit before the response); no session for the other layers.
    session_dependency = get_session if database == "sqlalchemy" else no_session
    DbDep = Annotated[Any, Depends(session_dependency, scope="function")]

    @app.get("/healthz")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    async def save_state(request: Request, session: Any, row: dict[str, Any]) -> None:
        if database == "sqlalchemy":
            await session.execute(INSERT_STATE, row)
        elif database == "core":
            async with engine_of(request).begin() as connection:
                await connection.execute(INSERT_STATE, row)
        elif database == "asyncpg":
            await request.app.state.pool.execute(RAW_INSERT_STATE, *row.values())

    async def spend_state(request: Request, session: Any, state: str, now: datetime) -> bool:
        if database == "sqlalchemy":
            spent = await session.execute(
                SPEND_STATE, {"which": digest(state), "now": now, "spent_at": now}
            )
            found = spent.first() is not None
            await session.commit()
            return found
        if database == "core":
            async with engine_of(request).begin() as connection:
                spent = await connection.execute(
                    SPEND_STATE, {"which": digest(state), "now": now, "spent_at": now}
                )
                return spent.first() is not None
        if database == "asyncpg":
            nonce = await request.app.state.pool.fetchval(RAW_SPEND_STATE, now, digest(state))
            return nonce is not None
        return True

    async def finish(request: Request, session: Any, subject: str, now: datetime) -> str:
        token = secrets.token_urlsafe(32)
        session_row = {
            "token_hash": digest(token),
            "account_id": "",
            "expires_at": now + timedelta(hours=8),
        }
        audit_row = {
            "id": secrets.token_hex(16),
            "subject": subject,
            "outcome": "success",
            "at": now,
        }
        if database == "sqlalchemy":
            account = await session.scalar(LINK, {"issuer": ISSUER, "subject": subject})
            session_row["account_id"] = account or ""
            await session.execute(INSERT_SESSION, session_row)
            await session.execute(INSERT_AUDIT, audit_row)
        elif database == "core":
            async with engine_of(request).begin() as connection:
                account = await connection.scalar(LINK, {"issuer": ISSUER, "subject": subject})
                session_row["account_id"] = account or ""
                await connection.execute(INSERT_SESSION, session_row)
                await connection.execute(INSERT_AUDIT, audit_row)
        elif database == "asyncpg":
            async with request.app.state.pool.acquire() as connection, connection.transaction():
                account = await connection.fetchval(RAW_LINK, ISSUER, subject)
                session_row["account_id"] = account or ""
                await connection.execute(RAW_SESSION, *session_row.values())
                await connection.execute(RAW_AUDIT, *audit_row.values())
        return token

    @app.get("/start")
    async def start(request: Request, session: DbDep) -> Response:
        state, browser = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
        await save_state(
            request,
            session,
            {
                "state_hash": digest(state),
                "browser_hash": digest(browser),
                "nonce": secrets.token_urlsafe(32),
                "expires_at": datetime.now(UTC) + timedelta(minutes=10),
            },
        )
        response = RedirectResponse(f"/callback?state={state}&code=c", status_code=303)
        response.set_cookie("flow", browser, httponly=True, samesite="lax")
        return response

    @app.get("/callback")
    async def callback(
        request: Request, session: DbDep, http: HttpDep, state: str, code: str
    ) -> Response:
        now = datetime.now(UTC)
        if not await spend_state(request, session, state, now):
            return Response("refused", status_code=400)
        subject = "subject"
        if outbound == "httpx":
            answer = await http.post(
                token_url,
                data={"grant_type": "authorization_code", "code": code, "code_verifier": state},
                headers={"Accept": "application/json"},
            )
            subject = answer.json()["sub"]
        token = await finish(request, session, subject, now)
        response = RedirectResponse("/portal", status_code=303)
        response.set_cookie("session", token, httponly=True, samesite="lax")
        return response

    return app
