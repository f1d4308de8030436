"""The reference relying party for bench/login.py: Apache 2.4 with mod_auth_openidc (Debian's
``apache2-bin`` and ``libapache2-mod-auth-openidc``), in a ServerRoot of its own on loopback.

One Apache child process (event MPM, ``ServerLimit 1``; its threads may use both cores, as
the service's one worker process may not), the bench's OP found by discovery (once; mod_auth_openidc
2.4 takes provider endpoints given by hand only as https URLs), so that a login makes one
call to it, the token call (the bench stops advertising UserInfo, which mod_auth_openidc
would call at every login and the service does not call for a returning customer), PKCE S256, sessions in Apache's shared-memory
cache. A protected path ``/protected/…`` stands for the portal: an unauthenticated GET is
redirected to the OP's authorize endpoint, and the callback at ``/protected/redirect_uri``
redirects back to it, as the service's substitute link and callback do.
"""

from __future__ import annotations

import os
import secrets
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

from tests.support.hostile_op import HostileOP

MODULES = Path("/usr/lib/apache2/modules")
APACHE = Path("/usr/sbin/apache2")
CONFIG = """
ServerRoot "{root}"
ServerName 127.0.0.1
Listen 127.0.0.1:{port}
PidFile "{root}/httpd.pid"
ErrorLog "{root}/error.log"
LogLevel warn
Mutex file:{root} default
DefaultRuntimeDir "{root}"
LoadModule mpm_event_module {modules}/mod_mpm_event.so
LoadModule authn_core_module {modules}/mod_authn_core.so
LoadModule authz_core_module {modules}/mod_authz_core.so
LoadModule authz_user_module {modules}/mod_authz_user.so
LoadModule auth_openidc_module {modules}/mod_auth_openidc.so
{user}
ServerLimit 1
StartServers 1
ThreadLimit 64
ThreadsPerChild 64
MaxRequestWorkers 64
MinSpareThreads 1
MaxSpareThreads 64
KeepAlive On
MaxKeepAliveRequests 0

OIDCProviderMetadataURL {issuer}/.well-known/openid-configuration
OIDCProviderTokenEndpointAuth client_secret_basic
OIDCClientID {client_id}
OIDCClientSecret {client_secret}
OIDCRedirectURI http://127.0.0.1:{port}/protected/redirect_uri
OIDCCryptoPassphrase {passphrase}
OIDCPKCEMethod S256
OIDCScope "openid email profile"
OIDCSSLValidateServer Off
OIDCSessionType server-cache
OIDCCacheType shm
OIDCCacheShmMax 20000

<Location /protected>
    AuthType openid-connect
    Require valid-user
</Location>
"""


def available() -> str | None:
    """Why the reference cannot run here, or None."""
    if not APACHE.exists() or not (MODULES / "mod_auth_openidc.so").exists():
        return "needs apt-get install apache2-bin libapache2-mod-auth-openidc"
    return None


@contextmanager
def apache(op: HostileOP, port: int) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    root = Path(tempfile.mkdtemp(prefix="bench-apache-"))
    # As root, Apache's child drops to this user, which must read and write the ServerRoot.
    user = "User daemon\nGroup daemon" if os.geteuid() == 0 else ""
    if user:
        shutil.chown(root, "daemon", "daemon")
    (root / "httpd.conf").write_text(
        CONFIG.format(
            root=root,
            port=port,
            modules=MODULES,
            user=user,
            issuer=op.issuer,
            client_id=op.client_id,
            client_secret=op.client_secret,
            passphrase=secrets.token_urlsafe(24),
        )
    )
    process = subprocess.Popen(  # noqa: S603 - fixed command
        [str(APACHE), "-d", str(root), "-f", str(root / "httpd.conf"), "-DFOREGROUND"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                httpx.get(f"{url}/", timeout=1)  # not protected: needs no OP
                break
            except httpx.HTTPError:
                if process.poll() is not None or time.monotonic() > deadline:
                    log = root / "error.log"
                    raise RuntimeError(
                        f"Apache did not start: {log.read_text() if log.exists() else ''}"
                    ) from None
                time.sleep(0.1)
        yield url, process
    finally:
        process.terminate()
        process.wait(timeout=20)
        shutil.rmtree(root, ignore_errors=True)
