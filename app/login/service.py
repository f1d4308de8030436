"""The sign-in use case: start a login at an identity provider, and complete it.

Completing is where the rules meet: the state is checked and spent (committed at once, so a
failure later cannot make it usable again), the protocol verifies the IdP's answer into a
``MappedIdentity``, the customer is provisioned in JSM, a portal session opens, and every
attempt is audited. A refusal rolls back whatever the attempt wrote but its audit row, and is
rate limited where anyone could send it. The HTTP glue (cookies, pages) is ``app.login.routes``.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from cryptography.hazmat.primitives.asymmetric import rsa
from prometheus_client import Counter as PromCounter
from sqlalchemy.ext.asyncio import AsyncSession

from app.config import Settings
from app.crypto import SecretBox, same_secret
from app.errors import AppError, LoginError, NotFoundError
from app.identity import MappedIdentity
from app.idps import repository
from app.idps.presets import PRESETS
from app.idps.states import CompletedLogin, FlowStart, RefusedStateError, check_state
from app.login import access
from app.login.audit import record_login
from app.login.provisioner import CustomerProvisioner
from app.login.sessions import create_session
from app.login.tenant_config import TenantConfig
from app.models import IdentityProvider, LoginState, Tenant
from app.observability import Metrics, set_tenant
from app.oidc.flow import complete_login, start_login
from app.oidc.metadata import MetadataCache
from app.ratelimit import LoginRateLimiter, TooManyLoginsError, forwarded_by_untrusted_proxy
from app.saml import sp_keys
from app.saml.login import (
    complete_saml_login,
    refresh_metadata,
    saml_session_of,
    saml_unsolicited_allowed,
    start_saml_login,
)
from app.saml.logout import SessionHandle
from app.tenants import repository as tenants
from app.urls import desk_url

logger = logging.getLogger(__name__)

# Hints for the errors admins meet while wiring an IdP (shown on test and login pages).
IDP_ERROR_HINTS = {
    "redirect_mismatch": "the callback URL is not in the app client's Allowed callback URLs",
    "invalid_client": "the client ID or client secret is wrong, or the app client has no secret",
    "unauthorized_client": "the app client does not allow the authorization code grant",
    "invalid_scope": "a requested scope is not allowed for this app client",
    "access_denied": "the sign-in was cancelled or refused at the identity provider",
    "invalid_grant": "the sign-in code was already used or has expired; try again",
}


def explain(message: str) -> str:
    for code, hint in IDP_ERROR_HINTS.items():
        if code in message:
            return f"{message}. Likely cause: {hint}."
    return message


@dataclass(frozen=True, slots=True)
class Client:
    """Who is asking, for the per-IP limits: the address the server saw, and any
    ``X-Forwarded-For`` it was sent (for the warning about an unlisted proxy)."""

    host: str
    forwarded_for: str | None = None


@dataclass(frozen=True, slots=True)
class SignedIn:
    """Signed in: the session to set, and where the login was going."""

    target: str
    session_token: str
    max_age: int
    tenant_id: str


@dataclass(frozen=True, slots=True)
class Returning:
    """The browser that spent this state brought it back (the Back button after signing in):
    nothing is redeemed again; it goes where the login was going."""

    target: str


@dataclass(frozen=True, slots=True)
class Refused:
    """The login cannot go on; ``retry_url`` starts a fresh one where that makes sense."""

    error: AppError
    retry_url: str | None


@dataclass(frozen=True, slots=True)
class Tested:
    """The admin's Test connection finished: what the IdP returned, and what it maps to."""

    idp: IdentityProvider
    completed: CompletedLogin


Outcome = SignedIn | Returning | Refused | Tested


class LoginService:
    def __init__(
        self,
        *,
        settings: Settings,
        box: SecretBox,
        http: httpx.AsyncClient,
        metadata: MetadataCache,
        provisioner: CustomerProvisioner,
        metrics: Metrics,
        tenant_config: Callable[[str], Awaitable[TenantConfig | None]],
    ) -> None:
        self.settings = settings
        self.box = box
        self.http = http
        self.metadata = metadata
        # Replaceable: tests hand in an in-memory double.
        self.provisioner = provisioner
        self.metrics = metrics
        self.tenant_config = tenant_config
        # Login starts: a start that comes back verified is taken back from the per-address
        # count, so only abandoned or forged starts meet the low limit.
        self.login_limiter = LoginRateLimiter(
            per_ip=settings.login_starts_per_ip_per_minute,
            per_ip_ceiling=settings.login_starts_per_ip_ceiling_per_minute,
            per_tenant=settings.login_starts_per_tenant_per_minute,
        )
        # Refused sign-in responses (each writes an audit row) are counted apart, with the
        # same limits: refusals never use up a customer's login starts.
        self.refusal_limiter = self._limiter()
        # Atlassian's AuthnRequests at the Guard bridge (each parks a row), apart again.
        self.sp_request_limiter = self._limiter()
        self._warned_proxies: set[str] = set()

    def _limiter(self) -> LoginRateLimiter:
        return LoginRateLimiter(
            per_ip=self.settings.login_starts_per_ip_per_minute,
            per_tenant=self.settings.login_starts_per_tenant_per_minute,
        )

    # --- starting --------------------------------------------------------------------------
    async def start(
        self,
        session: AsyncSession,
        *,
        tenant: Tenant,
        idp: IdentityProvider,
        purpose: str,
        client: Client,
        browser_id: str | None,
        service_desk_id: str | None = None,
        return_path: str | None = None,
        login_hint: str | None = None,
    ) -> FlowStart:
        """A login (or the admin's test) at ``idp``: the authorize URL to send the browser to."""
        if purpose == "login":
            self._check_rate(
                client, tenant.id, self.login_limiter, self.metrics.login_starts_limited
            )
        if PRESETS[idp.preset].kind == "saml":
            return await start_saml_login(
                session,
                tenant=tenant,
                idp=idp,
                purpose="test" if purpose == "test" else "login",
                app_base_url=self.settings.app_base_url,
                box=self.box,
                browser_id=browser_id,
                service_desk_id=service_desk_id,
                return_path=return_path,
            )
        metadata = await self.metadata.metadata(idp)
        return await start_login(
            session,
            tenant=tenant,
            idp=idp,
            metadata=metadata,
            purpose="test" if purpose == "test" else "login",
            app_base_url=self.settings.app_base_url,
            box=self.box,
            browser_id=browser_id,
            service_desk_id=service_desk_id,
            return_path=return_path,
            login_hint=login_hint,
        )

    async def start_test(
        self, session: AsyncSession, *, ticket: str, client: Client, browser_id: str | None
    ) -> FlowStart:
        """The admin's one-time Test connection link."""
        row = await repository.consume_test_ticket(session, ticket, now=datetime.now(UTC))
        if row is None:
            raise LoginError(
                "this test link has expired or was already used; start Test connection again "
                "from the admin page"
            )
        tenant = await tenants.get_by_id(session, row.tenant_id)
        idp = await repository.get_idp(session, row.tenant_id, row.idp_id)
        if tenant is None or not tenant.active or idp is None:
            raise NotFoundError("this identity provider no longer exists")
        return await self.start(
            session, tenant=tenant, idp=idp, purpose="test", client=client, browser_id=browser_id
        )

    # --- completing ------------------------------------------------------------------------
    async def complete(
        self,
        session: AsyncSession,
        *,
        idp_id: str,
        params: dict[str, str],
        browser_id: str | None,
        client: Client,
        saml_answer: bool = False,
        now: datetime | None = None,
    ) -> Outcome:
        """``saml_answer``: the answer came to the SAML ACS, not the OIDC callback; each route
        takes only its own protocol's answers."""
        now = now or datetime.now(UTC)
        try:
            state = await check_state(
                session, idp_id=idp_id, state=params.get("state"), browser_id=browser_id, now=now
            )
        except AppError as e:
            return await self._refused_state(
                session, error=e, idp_id=idp_id, browser_id=browser_id, client=client
            )
        # The state is spent whatever happens next: commit that before anything can fail.
        await session.commit()
        return await self._finish(
            session,
            idp_id=idp_id,
            state=state,
            params=params,
            now=now,
            client=client,
            saml_answer=saml_answer,
        )

    async def complete_unsolicited(
        self,
        session: AsyncSession,
        *,
        idp_id: str,
        params: dict[str, str],
        client: Client,
        now: datetime | None = None,
    ) -> Outcome:
        """A SAML Response the IdP sent unasked (a tile on the IdP's dashboard): accepted only
        from an IdP whose admin allowed it, answering no request, and landing on the desk its
        RelayState names (a desk id; never a URL). No browser binding is possible, so each
        Assertion counts once (the replay cache) and a login started elsewhere can be pushed
        into this browser: the reason it is off by default."""
        now = now or datetime.now(UTC)
        row = await repository.get_idp_for_callback(session, idp_id)
        config = await self.tenant_config(row.tenant_id) if row is not None else None
        idp = config.idp(idp_id) if config is not None else None
        if config is None or idp is None or not config.tenant.active:
            raise NotFoundError("sign-in is not available for this site")
        set_tenant(config.tenant.id)
        self._check_rate(
            client, config.tenant.id, self.login_limiter, self.metrics.login_starts_limited
        )
        desk = params.get("state", "")
        state = LoginState(
            state_hash="",
            tenant_id=config.tenant.id,
            idp_id=idp.id,
            purpose="login",
            service_desk_id=desk,
            return_path=None,
            browser_hash="",
            nonce="",
            code_verifier_encrypted="",
            created_at=now,
            expires_at=now,
        )
        if not saml_unsolicited_allowed(idp):
            error = LoginError(
                "this identity provider's own sign-in links are not accepted here; open your "
                "help center's link instead"
            )
            return await self._refuse(
                session, error=error, tenant_id=config.tenant.id, idp=idp, state=None
            )
        if not (desk.isdigit() and len(desk) <= 18):
            error = LoginError(
                "this sign-in link names no help center; your administrator sets the desk "
                "number as the identity provider's RelayState"
            )
            return await self._refuse(
                session, error=error, tenant_id=config.tenant.id, idp=idp, state=None
            )
        return await self._finish(
            session,
            idp_id=idp_id,
            state=state,
            params=params,
            now=now,
            client=client,
            saml_answer=True,
            unsolicited=True,
        )

    async def _finish(
        self,
        session: AsyncSession,
        *,
        idp_id: str,
        state: LoginState,
        params: dict[str, str],
        now: datetime,
        client: Client,
        saml_answer: bool,
        unsolicited: bool = False,
    ) -> Outcome:
        """Past the state: the IdP's answer verified, then the test's report, or the customer
        provisioned and a session opened."""
        set_tenant(state.tenant_id)
        if state.purpose == "login":
            # Logins read the cached configuration; a test writes to its IdP, so it reads
            # afresh.
            config = await self.tenant_config(state.tenant_id)
            tenant, found = (config.tenant, config.idp(idp_id)) if config else (None, None)
        else:
            config = None
            tenant = await tenants.get_by_id(session, state.tenant_id)
            found = await repository.get_idp_for_callback(session, idp_id)
        if tenant is None or not tenant.active or found is None:
            raise NotFoundError("sign-in is not available for this site")
        idp = found
        if state.purpose == "login" and not idp.enabled:
            error = LoginError("this sign-in option has been switched off by your administrator")
            return await self._refuse(
                session, error=error, tenant_id=tenant.id, idp=idp, state=state
            )
        try:
            completed = await self._verify_answer(
                session,
                idp=idp,
                state=state,
                params=params,
                now=now,
                saml_answer=saml_answer,
                unsolicited=unsolicited,
            )
        except AppError as e:
            return await self._refuse(session, error=e, tenant_id=tenant.id, idp=idp, state=state)
        if completed.purpose == "login":
            # The IdP vouched for this login: its start was not abandoned.
            self.login_limiter.finished(tenant.id, client.host)
        if completed.purpose == "test":
            await self._record_test(session, tenant=tenant, idp=idp, completed=completed, now=now)
            return Tested(idp=idp, completed=completed)
        identity = completed.identity
        rule = config.rule(state.service_desk_id) if config is not None else access.DEFAULT
        try:
            if identity is None:
                raise completed.mapping_error or LoginError("the sign-in could not be completed")
            decision = await access.decide(
                rule, access.Entrant(idp.id, identity.email, completed.claims), None
            )
            if not decision.allowed:
                raise access.AccessRefusedError(decision, rule)
            account_id = await self.provisioner.provision(
                session,
                tenant=tenant,
                idp=idp,
                identity=identity,
                # A desk that asks for organizations is joined at the first entry, once
                # they are checked: until then the customer is added to nothing.
                service_desk_id=None if rule.organizations else state.service_desk_id,
            )
        except AppError as e:
            return await self._refuse(
                session, error=e, tenant_id=tenant.id, idp=idp, state=state, identity=identity
            )
        return await self._open_session(
            session,
            tenant=tenant,
            idp=idp,
            state=state,
            identity=identity,
            account_id=account_id,
            id_token=completed.id_token,
            saml_session=saml_session_of(completed.claims)
            if PRESETS[idp.preset].kind == "saml"
            else None,
            claims=access.kept_claims(completed.claims),
            now=now,
        )

    async def _verify_answer(
        self,
        session: AsyncSession,
        *,
        idp: IdentityProvider,
        state: LoginState,
        params: dict[str, str],
        now: datetime,
        saml_answer: bool,
        unsolicited: bool = False,
    ) -> CompletedLogin:
        """The protocol's part: the IdP's answer, verified into claims and an identity."""
        if saml_answer != (PRESETS[idp.preset].kind == "saml"):
            # A SAML Response at an OIDC callback, or the reverse: never another entry point.
            raise LoginError("this sign-in answer came back to the wrong address")
        if not saml_answer:
            return await complete_login(
                idp=idp,
                state=state,
                params=params,
                http=self.http,
                cache=self.metadata,
                box=self.box,
                app_base_url=self.settings.app_base_url,
                now=now,
            )

        async def remember(assertion_id: str, until: datetime) -> bool:
            # Committed at once, like the spent state: an Assertion accepted once stays
            # spent even when provisioning fails later.
            fresh = await repository.remember_assertion(
                session, idp_id=idp.id, assertion_id=assertion_id, expires_at=until
            )
            await session.commit()
            return fresh

        async def decryption_keys() -> list[rsa.RSAPrivateKey]:
            keys = await sp_keys.active_keys(session, idp.tenant_id, box=self.box, create=False)
            return [key.private_key for key in keys]

        async def refresh() -> IdentityProvider | None:
            row = await repository.get_idp(session, idp.tenant_id, idp.id)
            if row is None:
                return None
            fresh = await refresh_metadata(
                row,
                self.http,
                now=now,
                force=True,
                allow_http_loopback=self.settings.dev_allow_http_loopback,
            )
            await session.commit()  # what was read (or the attempt) stays, whatever follows
            return row if fresh else None

        return await complete_saml_login(
            idp=idp,
            state=state,
            params=params,
            app_base_url=self.settings.app_base_url,
            remember=remember,
            decryption_keys=decryption_keys,
            refresh=refresh,
            unsolicited=unsolicited,
            now=now,
        )

    async def _open_session(
        self,
        session: AsyncSession,
        *,
        tenant: Tenant,
        idp: IdentityProvider,
        state: LoginState,
        identity: MappedIdentity,
        account_id: str,
        id_token: str | None,
        now: datetime,
        saml_session: SessionHandle | None = None,
        claims: dict[str, Any] | None = None,
    ) -> SignedIn:
        lifetime = timedelta(hours=self.settings.portal_session_hours)
        new = await create_session(
            session,
            tenant.id,
            idp=idp,
            identity=identity,
            account_id=account_id,
            id_token_encrypted=self.box.encrypt(id_token) if id_token else None,
            saml_session=saml_session,
            claims=claims,
            lifetime=lifetime,
            now=now,
        )
        await record_login(
            session,
            tenant.id,
            idp_id=idp.id,
            idp_name=idp.name,
            outcome="success",
            email=identity.email,
            subject=identity.subject,
            account_id=account_id,
        )
        self._count(outcome="success", idp_id=idp.id)
        return SignedIn(
            target=self._landing(state),
            session_token=new.token,
            max_age=int(lifetime.total_seconds()),
            tenant_id=tenant.id,
        )

    async def _refused_state(
        self,
        session: AsyncSession,
        *,
        error: AppError,
        idp_id: str,
        browser_id: str | None,
        client: Client,
    ) -> Outcome:
        """Refused before we know whose login this is: find out from the IdP, for the audit."""
        idp = await repository.get_idp_for_callback(session, idp_id)
        if idp is None:
            raise NotFoundError("this sign-in provider does not exist") from None
        tenant = await tenants.get_by_id(session, idp.tenant_id)
        if tenant is None or not tenant.active:
            raise NotFoundError("sign-in is not available for this site") from None
        set_tenant(tenant.id)
        known = error.state if isinstance(error, RefusedStateError) else None
        if known is not None and known.tenant_id != tenant.id:
            known = None  # another tenant's: its page names nothing of it
        if known is not None and _spent_by(browser_id, known):
            # The Back button after signing in (or a double submit at the IdP): the IdP, still
            # signed in there, sends this browser's spent state once more. Nothing is redeemed
            # again; the customer goes where the login was going, where their session lets
            # them in (or a fresh login starts), and the admin's login activity gets no
            # failure. The session cookie is not sent to the callback under a path prefix, so
            # it is the landing page that decides.
            return Returning(self._landing(known))
        # Anyone can send made-up or replayed states here, and each refusal is audited:
        # past the limit, answer 429 and write nothing.
        self._check_rate(
            client, tenant.id, self.refusal_limiter, self.metrics.refused_callbacks_limited
        )
        # A refused state of this tenant's names its desk: the page offers a fresh start there.
        return await self._refuse(session, error=error, tenant_id=tenant.id, idp=idp, state=known)

    async def _refuse(
        self,
        session: AsyncSession,
        *,
        error: AppError,
        tenant_id: str,
        idp: IdentityProvider,
        state: LoginState | None,
        identity: MappedIdentity | None = None,
    ) -> Refused:
        """Undo whatever the attempt wrote, keep the audit row."""
        # Read what the page and the audit row need before the rollback expires these objects.
        idp_id, idp_name = idp.id, idp.name
        purpose = state.purpose if state else "login"
        self._count(outcome="failure", idp_id=idp_id, reason=error.code)
        retry_url = self._retry_url(state)
        await session.rollback()
        await record_login(
            session,
            tenant_id,
            idp_id=idp_id,
            idp_name=idp_name,
            outcome="failure",
            reason=error.audit_detail or error.message,
            email=identity.email if identity else None,
            subject=identity.subject if identity else None,
            purpose=purpose,
        )
        await session.commit()
        return Refused(error=error, retry_url=retry_url)

    async def _record_test(
        self,
        session: AsyncSession,
        *,
        tenant: Tenant,
        idp: IdentityProvider,
        completed: CompletedLogin,
        now: datetime,
    ) -> None:
        if completed.learned_issuer:
            idp.pinned_issuer = completed.learned_issuer
            idp.pinned_jwks_uri = completed.learned_jwks_uri
        idp.last_test_claims = _json_safe(completed.claims)
        idp.last_tested_at = now
        identity = completed.identity
        await record_login(
            session,
            tenant.id,
            idp_id=idp.id,
            idp_name=idp.name,
            outcome="success" if identity else "failure",
            reason=completed.mapping_error.message if completed.mapping_error else None,
            email=identity.email if identity else None,
            subject=identity.subject if identity else None,
            purpose="test",
        )

    def count_sp_request(self, client: Client, tenant_id: str) -> None:
        """One AuthnRequest at the Guard bridge from this client; ``TooManyLoginsError``
        (a 429 page) past the login-start limits. Anyone can send one with the registered
        Issuer, and each one parked is a row."""
        self._check_rate(
            client, tenant_id, self.sp_request_limiter, self.metrics.login_starts_limited
        )

    # --- helpers ---------------------------------------------------------------------------
    def _landing(self, state: LoginState) -> str:
        """Where a customer's login was going: the page they asked for, or the desk's home."""
        return state.return_path or desk_url(
            self.settings.base_path, state.tenant_id, state.service_desk_id or ""
        )

    def _retry_url(self, state: LoginState | None) -> str | None:
        if state is None or state.purpose != "login":
            return None
        if not state.service_desk_id:
            # A login for another page of the portal (the Guard bridge's journey): that page
            # offers the sign-in again while it is valid.
            return state.return_path
        return desk_url(self.settings.app_base_url, state.tenant_id, state.service_desk_id)

    def _count(self, *, outcome: str, idp_id: str, reason: str | None = None) -> None:
        self.metrics.logins.labels(outcome, idp_id).inc()
        logger.info("login", extra={"outcome": outcome, "idp_id": idp_id, "reason": reason})

    def _check_rate(
        self, client: Client, tenant_id: str, limiter: LoginRateLimiter, limited: PromCounter
    ) -> None:
        """Count one attempt from this client; past the limit, count that in ``limited`` and
        raise ``TooManyLoginsError`` (a 429 page)."""
        if forwarded_by_untrusted_proxy(client.forwarded_for, client.host):
            self._warn_untrusted_proxy(client.host)
        try:
            limiter.check(tenant_id, client.host)
        except TooManyLoginsError:
            limited.inc()
            raise

    def _warn_untrusted_proxy(self, address: str) -> None:
        # Once per proxy address, and for a few addresses at most: anyone can send the header.
        if address in self._warned_proxies or len(self._warned_proxies) >= 8:
            return
        self._warned_proxies.add(address)
        logger.warning(
            "requests arrive through a proxy at %s that FORWARDED_ALLOW_IPS does not list: the "
            "per-IP login limit counts all of its customers as that one address",
            address,
        )


def _spent_by(browser_id: str | None, state: LoginState) -> bool:
    """Whether the browser with ``browser_id`` started the customer login that spent it."""
    if state.purpose != "login" or state.used_at is None or not browser_id:
        return False
    return same_secret(state.browser_hash, repository.digest(browser_id))


def _json_safe(claims: dict[str, Any]) -> dict[str, Any]:
    return {
        key: value
        if isinstance(value, str | int | float | bool | list | dict) or value is None
        else str(value)
        for key, value in claims.items()
    }
