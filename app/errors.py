"""Expected failures, each with the HTTP status it maps to at the boundary.

::

    AppError (500)
    ├── AuthenticationError (401)        bad or missing JWT / session; message never leaks detail
    ├── PermissionDeniedError (403)      authenticated, but not allowed (e.g. not a Jira admin)
    ├── NotFoundError (404)              unknown tenant, IdP, desk, request (or not the caller's)
    ├── InvalidInputError (422)          bad admin input; carries field -> message
    ├── LoginError (400)                 a customer login that cannot go on; the page says why
    │   └── LoginStateError (400)        unknown, used, expired or foreign login state
    ├── JiraUnavailableError (503)       no way to call the site's Jira now (no valid Forge app
    │                                    token, a service account without its token); says why
    └── UpstreamError (502)              Jira, the IdP or Atlassian's key service misbehaved
        ├── InstallKeyError (401)        install-signing key could not be fetched (install refused)
        ├── JiraError (502)              carries Jira's errorMessages
        └── IdentityProviderError (502)  discovery, JWKS, token or userinfo endpoint failure
"""

from __future__ import annotations


class AppError(Exception):
    status_code = 500
    code = "internal_error"
    # What the admin's login activity records, when it says more than the customer's page.
    audit_detail: str | None = None

    def __init__(self, message: str, *, status_code: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        if status_code is not None:
            self.status_code = status_code


class AuthenticationError(AppError):
    status_code = 401
    code = "unauthorized"


class PermissionDeniedError(AppError):
    status_code = 403
    code = "forbidden"


class NotFoundError(AppError):
    status_code = 404
    code = "not_found"


class InvalidInputError(AppError):
    status_code = 422
    code = "invalid_input"

    def __init__(self, message: str, *, fields: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.fields = fields or {}


class LoginError(AppError):
    status_code = 400
    code = "login_failed"


class LoginStateError(LoginError):
    code = "login_state_invalid"


class JiraUnavailableError(AppError):
    status_code = 503
    code = "jira_not_configured"


class UpstreamError(AppError):
    status_code = 502
    code = "upstream_error"


class InstallKeyError(UpstreamError):
    # An install whose signing key cannot be fetched is not verified: refuse it.
    status_code = 401
    code = "unauthorized"


class JiraError(UpstreamError):
    code = "jira_error"

    def __init__(
        self,
        message: str,
        *,
        status_code: int | None = None,
        jira_status: int | None = None,
        error_messages: list[str] | None = None,
    ) -> None:
        super().__init__(message, status_code=status_code)
        self.jira_status = jira_status
        self.error_messages = error_messages or []


class IdentityProviderError(UpstreamError):
    code = "identity_provider_error"
