"""`make demo`: the real service with a sandbox Jira site and a local OpenID Provider, so the
customer's journey and the admin's screens can be seen without Jira Cloud or an IdP.

* The service: the code of `make run`, on SQLite (its own file, ``data/demo.sqlite3``, made
  afresh at each start: a second `make demo` starts clean), with ``DEMO=true``: every page
  says it is a demo, and the admin page opens outside Jira.
* The sandbox Jira: the tests' fake JSM (validated against Atlassian's spec), with two service
  desks, their request types and fields, a knowledge base and an organization, served on
  loopback; the site is installed as Jira would install it, by a signed install event from a
  local signer.
* The OpenID Provider: the tests' npm ``oidc-provider`` with its login form; any login name
  signs in (``ada`` has a full profile), any password.

Everything listens on 127.0.0.1. Ctrl-C stops all three. Nothing of this ships in the image.
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import time
from contextlib import contextmanager
from urllib.parse import quote

import httpx
from cryptography.fernet import Fernet

from bench.common import ROOT, app_processes, install, migrate, new_secret, serve_here
from tests.support.connect_tokens import InstallSigner, tenant_token
from tests.support.fake_jira import FakeJira
from tests.support.fake_jira_server import FakeAtlassian
from tests.support.live_server import free_port
from tests.support.openid_provider import start_openid_provider

DATABASE = ROOT / "data" / "demo.sqlite3"
DATABASE_URL = f"sqlite+aiosqlite:///{DATABASE}"
CLIENT_KEY = "demo:sandbox-site"
ADMIN_ACCOUNT = "557058:admin-account"  # the sandbox site's Jira administrator
TOKEN_HOURS = 12


def refuse_to_run_elsewhere() -> None:
    """Never against production, nor against a database that is not the demo's own."""
    if os.environ.get("APP_ENV", "development") == "production":
        sys.exit("make demo refuses to run with APP_ENV=production")
    given = os.environ.get("DATABASE_URL")
    if given and given != DATABASE_URL:
        sys.exit(f"make demo uses its own database ({DATABASE_URL}); unset DATABASE_URL")


def sandbox_site(base_url: str, secret: str) -> FakeJira:
    jira = FakeJira(
        base_url=base_url, app_key="portal-sso-for-jsm", client_key=CLIENT_KEY, shared_secret=secret
    )
    it = jira.add_desk("7", "ITH", "IT Help")
    it.articles = {
        "301": (
            "Reset your VPN password",
            "<h2>Steps</h2><ol><li>Open the VPN client.</li><li>Choose <b>Reset password</b>."
            "</li><li>Follow the email you receive.</li></ol>",
        ),
        "302": ("Set up the office printer", "<p>Add the printer <code>PRN-2</code> by name.</p>"),
    }
    jira.add_desk("8", "HR", "HR Help")
    jira.organizations[501] = {"id": "501", "name": "Acme", "members": set()}
    return jira


def page_jwt(secret: str, query: str) -> str:
    from app.connect.jwt import query_string_hash

    return tenant_token(
        client_key=CLIENT_KEY,
        secret=secret,
        qsh=query_string_hash("GET", "/admin", query),
        exp=int(time.time()) + TOKEN_HOURS * 3600,
    )


async def run(port: int) -> None:
    # Ctrl-C, or a `kill`, cancels the task and each part is shut down in turn (SIGINT too:
    # a shell that starts the demo in the background leaves SIGINT ignored).
    task = asyncio.current_task()
    assert task is not None  # noqa: S101 - run() is asyncio.run's task
    for stop in (signal.SIGINT, signal.SIGTERM):
        asyncio.get_running_loop().add_signal_handler(stop, task.cancel)
    fake_port = free_port()
    signer, secret = InstallSigner(), new_secret()
    jira = sandbox_site(f"http://127.0.0.1:{fake_port}", secret)
    DATABASE.parent.mkdir(exist_ok=True)
    DATABASE.unlink(missing_ok=True)
    await asyncio.to_thread(migrate, DATABASE_URL)
    env = {
        "APP_ENV": "development",
        "DEMO": "true",
        "APP_BASE_URL": f"http://127.0.0.1:{port}",
        "CONNECT_INSTALL_KEYS_URL": f"http://127.0.0.1:{fake_port}/keys",
        "DATABASE_URL": DATABASE_URL,
        "ENCRYPTION_KEYS": Fernet.generate_key().decode(),
        "DEV_ALLOW_HTTP_LOOPBACK": "true",
        "ALLOWED_INSTALL_HOSTS": "127.0.0.1",
    }
    with contextmanager(start_openid_provider)() as op:
        async with serve_here(FakeAtlassian(jira, {signer.kid: signer.public_pem}), fake_port):
            with app_processes(env, workers=1, port=port) as (app, _process):
                await asyncio.to_thread(
                    install,
                    app,
                    signer,
                    client_key=CLIENT_KEY,
                    secret=secret,
                    jira_url=jira.base_url,
                )
                admin = {
                    "Authorization": f"JWT {tenant_token(client_key=CLIENT_KEY, secret=secret)}"
                }
                async with httpx.AsyncClient(timeout=10) as http:
                    created = await http.post(
                        f"{app}/api/admin/idps",
                        headers=admin,
                        json={
                            "name": "Demo sign-in",
                            "preset": "oidc",
                            "issuer": op.issuer,
                            "client_id": "pending",
                            "client_secret": "pending",
                        },
                    )
                    created.raise_for_status()
                    idp = created.json()
                    client = await asyncio.to_thread(
                        op.register_client,
                        idp["callback_url"],
                        post_logout_redirect_uris=[idp["signed_out_url"]],
                    )
                    (
                        await http.put(
                            f"{app}/api/admin/idps/{idp['id']}",
                            headers=admin,
                            json={
                                "client_id": client["client_id"],
                                "client_secret": client["client_secret"],
                            },
                        )
                    ).raise_for_status()
                tenant_id = idp["signed_out_url"].split("/portal/")[1].split("/")[0]
                query = "lic=none&xdm_e=http%3A%2F%2F127.0.0.1&cp="
                context_token = tenant_token(
                    client_key=CLIENT_KEY,
                    secret=secret,
                    sub=ADMIN_ACCOUNT,
                    exp=int(time.time()) + TOKEN_HOURS * 3600,
                )
                print(
                    "\nPortal SSO demo (a sandbox site; Ctrl-C stops it)\n\n"
                    f"  Admin page:       {app}/admin?{query}&jwt={page_jwt(secret, query)}"
                    f"#demo={quote(context_token)}\n"
                    f"  Substitute link:  {app}/portal/{tenant_id}/7\n"
                    "  Demo users:       ada (Ada Lovelace), or any other name; any password\n"
                    f"  Identity provider: {op.issuer}\n",
                    flush=True,
                )
                await asyncio.Event().wait()  # until Ctrl-C


def main() -> None:
    refuse_to_run_elsewhere()
    port = int(os.environ.get("PORT", "8000"))
    try:
        asyncio.run(run(port))
    except (KeyboardInterrupt, asyncio.CancelledError):
        print("demo stopped", flush=True)


if __name__ == "__main__":
    main()
