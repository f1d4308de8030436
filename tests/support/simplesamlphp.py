"""A real SAML IdP for the tests: Debian's SimpleSAMLphp (1.19) served by ``php -S`` on
loopback, with a configuration of its own in a temporary directory (never /etc):

* the hosted IdP signs its Responses (and their Assertions) with an RSA-2048 key and a
  self-signed certificate made here;
* one SP is registered: the entity id and ACS the test names;
* users come from SimpleSAMLphp's ``exampleauth:UserPass`` source (``ann``/``ann-password``
  with ``mail`` and ``displayName``).

``scripts/install-system-deps`` installs the packages (``simplesamlphp``, ``php-cli``,
``php-xml``)."""

from __future__ import annotations

import os
import secrets
import shutil
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
from cryptography.hazmat.primitives import serialization

from tests.support.keys import rsa_2048
from tests.support.live_server import free_port
from tests.support.saml_idp import self_signed

WWW = Path("/usr/share/simplesamlphp/www")
USER = "ann"
PASSWORD = "ann-password"
MAIL = "ann@example.com"


def available() -> bool:
    return WWW.is_dir() and shutil.which("php") is not None


@dataclass(frozen=True)
class SimpleSamlPhp:
    base_url: str
    config_dir: Path

    def register_sp(self, *, entity_id: str, acs_url: str) -> None:
        """Trust one more SP (SimpleSAMLphp reads its metadata files on every request)."""
        _register_sp(self.config_dir, entity_id=entity_id, acs_url=acs_url)

    @property
    def entity_id(self) -> str:
        return f"{self.base_url}/saml2/idp/metadata.php"

    @property
    def metadata_url(self) -> str:
        return f"{self.base_url}/saml2/idp/metadata.php"

    @property
    def sso_url(self) -> str:
        return f"{self.base_url}/saml2/idp/SSOService.php"


def _php(value: object) -> str:
    """A PHP literal for a str, bool, int, list or dict (the config files are PHP arrays)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, str):
        return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"
    if isinstance(value, list):
        return "[" + ", ".join(_php(v) for v in value) + "]"
    if isinstance(value, dict):
        return "[" + ", ".join(f"{_php(k)} => {_php(v)}" for k, v in value.items()) + "]"
    raise TypeError(type(value))


def _write(path: Path, variable: str, value: object) -> None:
    path.write_text(f"<?php\n${variable} = {_php(value)};\n")


_REGISTERED: dict[Path, dict[str, object]] = {}


def _register_sp(config: Path, *, entity_id: str, acs_url: str) -> None:
    known = _REGISTERED.setdefault(config, {})
    known[entity_id] = {
        "AssertionConsumerService": acs_url,
        "NameIDFormat": "urn:oasis:names:tc:SAML:2.0:nameid-format:persistent",
        "simplesaml.nameidattribute": "uid",
    }
    lines = ["<?php"] + [
        f"$metadata[{_php(name)}] = {_php(values)};" for name, values in known.items()
    ]
    (config / "metadata" / "saml20-sp-remote.php").write_text("\n".join(lines) + "\n")


def start_simplesamlphp(
    folder: Path, *, sp_entity_id: str, acs_url: str
) -> Iterator[SimpleSamlPhp]:
    port = free_port()
    base_url = f"http://127.0.0.1:{port}"
    config = folder / "config"
    (config / "metadata").mkdir(parents=True)
    certs = folder / "certs"
    certs.mkdir()
    key = rsa_2048()
    (certs / "idp.key").write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    (certs / "idp.crt").write_bytes(
        self_signed(key, "simplesamlphp-test-idp").public_bytes(serialization.Encoding.PEM)
    )
    for name in ("tmp", "log", "data"):
        (folder / name).mkdir()
    _write(
        config / "config.php",
        "config",
        {
            "baseurlpath": f"{base_url}/",
            "certdir": f"{certs}/",
            "loggingdir": f"{folder / 'log'}/",
            "datadir": f"{folder / 'data'}/",
            "tempdir": str(folder / "tmp"),
            "metadatadir": f"{config / 'metadata'}/",
            "technicalcontact_name": "Tests",
            "technicalcontact_email": "tests@example.test",
            "secretsalt": secrets.token_hex(16),
            "auth.adminpassword": secrets.token_hex(16),
            "admin.protectindexpage": True,
            "admin.protectmetadata": False,
            "timezone": "UTC",
            "logging.level": 3,  # warnings and worse
            "logging.handler": "file",
            "enable.saml20-idp": True,
            "module.enable": {"exampleauth": True, "core": True, "saml": True, "admin": True},
            "store.type": "phpsession",
            "session.cookie.secure": False,
            "session.phpsession.cookiename": "SimpleSAML",
            "language.available": ["en"],
            "trusted.url.domains": ["127.0.0.1"],
        },
    )
    _write(
        config / "authsources.php",
        "config",
        {
            "admin": ["core:AdminPassword"],
            "example-userpass": {
                0: "exampleauth:UserPass",
                f"{USER}:{PASSWORD}": {
                    "uid": [USER],
                    "mail": [MAIL],
                    "displayName": ["Ann Example"],
                },
            },
        },
    )
    _write(
        config / "metadata" / "saml20-idp-hosted.php",
        "metadata['__DYNAMIC:1__']",
        {
            "host": "__DEFAULT__",
            "privatekey": "idp.key",
            "certificate": "idp.crt",
            "auth": "example-userpass",
            "sign.logout": True,
            "saml20.sign.response": True,
            "saml20.sign.assertion": True,
            "NameIDFormat": "urn:oasis:names:tc:SAML:2.0:nameid-format:persistent",
            "simplesaml.nameidattribute": "uid",
        },
    )
    _register_sp(config, entity_id=sp_entity_id, acs_url=acs_url)
    environment = os.environ | {"SIMPLESAMLPHP_CONFIG_DIR": str(config)}
    log = (folder / "php.log").open("wb")
    process = subprocess.Popen(  # noqa: S603 - fixed command, no shell
        ["php", "-S", f"127.0.0.1:{port}", "-t", str(WWW)],  # noqa: S607 - Debian's php
        env=environment,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + 15
        while True:
            try:
                if httpx.get(f"{base_url}/saml2/idp/metadata.php", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(
                    "SimpleSAMLphp did not start: " + (folder / "php.log").read_text()[-2000:]
                )
            time.sleep(0.1)
        yield SimpleSamlPhp(base_url, config)
    finally:
        process.terminate()
        process.wait(timeout=10)
        log.close()
