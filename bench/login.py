"""Complete logins per second: substitute link -> IdP -> callback -> portal redirect, over
OpenID Connect and over SAML 2.0 (``--protocol``; both by default, in the same run).

The app runs in uvicorn worker processes; the IdP (token, JWKS, discovery, userinfo) and Jira
are zero-latency fakes served over loopback by this process, on the same event loop as the
browsers (a minimal HTTP client, ``bench/browser.py``; the IdP's authorize step is done
in-process). Prints logins/s, p50/p99 latency of the two app requests of a login, outbound
calls per login, CPU per login of the app and of this harness (they share the machine's
cores), and worker memory. Returning customers are also measured with 2 logins in flight,
for latency below saturation. For SAML, the IdP is this process too: it signs each Response
(signxml, RSA-SHA256) as SimpleSAMLphp or AD FS would, and the browser posts it to the ACS;
the IdP's signing is the harness's CPU, the verification the app's.

    .venv/bin/python -m bench.login [--logins 1500] [--concurrency 16]
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import os
import subprocess
import tempfile
import time
from collections.abc import Awaitable
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import httpx
from lxml import etree

from app.saml.authn import inflate
from bench.apache import apache, available
from bench.browser import Browser
from bench.common import (
    app_processes,
    base_env,
    database_cpu_seconds,
    database_url,
    install,
    migrate,
    new_secret,
    percentile,
    process_cpu_seconds,
    serve_here,
    sign_in_at_op,
    worker_rss_mb,
)
from bench.fakes import OPServer
from tests.support.connect_tokens import InstallSigner, tenant_token
from tests.support.fake_jira import FakeJira
from tests.support.fake_jira_server import FakeAtlassian
from tests.support.hostile_op import HostileOP
from tests.support.live_server import free_port
from tests.support.saml_idp import SigningIdp


@dataclass
class Phase:
    name: str
    logins_per_second: float
    p50_ms: float
    p99_ms: float
    token_calls: float
    other_idp_calls: float
    jira_calls: float
    app_cpu_ms: float
    harness_cpu_ms: float
    database_cpu_ms: float | None


async def run_phase(
    name: str,
    app: str,
    tenant_id: str,
    op: HostileOP,
    jira: FakeJira,
    process: subprocess.Popen[bytes],
    *,
    subjects: list[str],
    logins: int,
    concurrency: int,
    saml: SamlBench | None = None,
    entry: str | None = None,
) -> Phase:
    """``entry``: the path a login starts at (the substitute link unless given: the
    reference's protected page)."""
    entry = entry or f"/portal/{tenant_id}/7"
    latencies: list[float] = []
    counter = iter(range(logins))
    idp_before = (op.token_calls, op.userinfo_calls + op.jwks_calls + op.discovery_calls)
    jira_before = len(jira.calls)

    async def user() -> None:
        browser = Browser(app)
        try:
            for n in counter:
                subject = subjects[n % len(subjects)]
                browser.cookies.clear()
                started = time.perf_counter()
                first = await browser.get(entry)
                assert first.status in (302, 303), first.body[:300]
                if saml is None:
                    done = await browser.get(sign_in_at_op(op, subject, first.headers["location"]))
                else:
                    done = await browser.post_form(
                        saml.acs_path, saml.sign_in(subject, first.headers["location"])
                    )
                assert done.status in (302, 303), done.body[:300]
                latencies.append((time.perf_counter() - started) * 1000)
        finally:
            await browser.close()

    cpu_before = (process_cpu_seconds(process), time.process_time(), database_cpu_seconds())
    started = time.perf_counter()
    await asyncio.gather(*(user() for _ in range(concurrency)))
    elapsed = time.perf_counter() - started
    app_cpu = process_cpu_seconds(process) - cpu_before[0]
    harness_cpu = time.process_time() - cpu_before[1]
    database_after = database_cpu_seconds()
    database_cpu = (
        None
        if database_after is None or cpu_before[2] is None
        else (database_after - cpu_before[2]) * 1000 / logins
    )
    return Phase(
        name,
        logins / elapsed,
        percentile(latencies, 0.50),
        percentile(latencies, 0.99),
        (op.token_calls - idp_before[0]) / logins,
        (op.userinfo_calls + op.jwks_calls + op.discovery_calls - idp_before[1]) / logins,
        (len(jira.calls) - jira_before) / logins,
        app_cpu * 1000 / logins,
        harness_cpu * 1000 / logins,
        database_cpu,
    )


@dataclass
class SamlBench:
    """The zero-latency SAML IdP: reads our AuthnRequest, answers with a signed Response."""

    idp: SigningIdp
    acs_url: str
    entity_id: str

    @property
    def acs_path(self) -> str:
        return urlsplit(self.acs_url).path

    def sign_in(self, subject: str, redirect_url: str) -> dict[str, str]:
        query = parse_qs(urlsplit(redirect_url).query)
        request = etree.fromstring(inflate(base64.b64decode(query["SAMLRequest"][0])))
        document = self.idp.signed_response(
            acs_url=self.acs_url,
            audience=self.entity_id,
            in_response_to=request.get("ID"),
            name_id=subject,
            attributes={"mail": [f"{subject}@example.com"], "displayName": [subject]},
        )
        return {
            "SAMLResponse": base64.b64encode(document).decode(),
            "RelayState": query["RelayState"][0],
        }


async def bench(
    workers: int,
    logins: int,
    concurrency: int,
    protocol: str,
    desk_rules: int = 0,
    reference: bool = False,
) -> tuple[list[Phase], list[float]]:
    with tempfile.TemporaryDirectory() as tmp:
        url = database_url(Path(tmp))
        await asyncio.to_thread(migrate, url)
        port, fake_port, op_port = free_port(), free_port(), free_port()
        signer, client_key, secret = InstallSigner(), "jira:bench", new_secret()
        jira = FakeJira(
            base_url=f"http://127.0.0.1:{fake_port}",
            app_key="portal-sso-for-jsm",
            client_key=client_key,
            shared_secret=secret,
        )
        jira.add_desk("7", "ITH", "IT Help")
        op = HostileOP(issuer=f"http://127.0.0.1:{op_port}")
        env = base_env(url, port=port, fake_port=fake_port)
        async with (
            serve_here(FakeAtlassian(jira, {signer.kid: signer.public_pem}), fake_port),
            serve_here(OPServer(op), op_port),
        ):
            with app_processes(env, workers=workers, port=port) as (app, process):
                await asyncio.to_thread(
                    install,
                    app,
                    signer,
                    client_key=client_key,
                    secret=secret,
                    jira_url=jira.base_url,
                )
                admin = {
                    "Authorization": f"JWT {tenant_token(client_key=client_key, secret=secret)}"
                }
                saml = None
                if protocol == "saml":
                    saml_idp = SigningIdp()
                    body = {
                        "name": "Bench",
                        "preset": "saml",
                        "metadata_xml": saml_idp.metadata().decode(),
                        "trust_email": True,
                    }
                else:
                    body = {
                        "name": "Bench",
                        "preset": "oidc",
                        "issuer": op.issuer,
                        "client_id": op.client_id,
                        "client_secret": op.client_secret,
                    }
                async with httpx.AsyncClient() as http:
                    idp = (
                        await http.post(f"{app}/api/admin/idps", headers=admin, json=body)
                    ).json()
                if protocol == "saml":
                    saml = SamlBench(saml_idp, idp["acs_url"], idp["sp_entity_id"])
                if desk_rules:
                    await add_desk_rules(app, admin, jira, idp["id"], desk_rules)
                tenant_id = idp["signed_out_url"].split("/portal/")[1].split("/")[0]
                returning = [f"returning-{n}" for n in range(200)]

                def phase(
                    name: str, subjects: list[str], logins: int, concurrency: int
                ) -> Awaitable[Phase]:
                    return run_phase(
                        name,
                        app,
                        tenant_id,
                        op,
                        jira,
                        process,
                        subjects=subjects,
                        logins=logins,
                        concurrency=concurrency,
                        saml=saml,
                    )

                # Warm up: first logins for the returning population (also fills caches).
                await phase("warm-up", returning, len(returning), concurrency)
                phases = [
                    await phase("returning customers", returning, logins, concurrency),
                    # Latency below saturation: on this one machine, 16 in flight saturate
                    # the cores the app shares with PostgreSQL and this harness.
                    await phase("returning, 2 in flight", returning, logins // 3, 2),
                    await phase(
                        "first-time customers",
                        [f"new-{n}" for n in range(logins // 3)],
                        logins // 3,
                        concurrency,
                    ),
                ]
                rss = worker_rss_mb(process)
            if reference and saml is None:
                phases += await reference_phases(op, jira, returning, logins, concurrency)
    return phases, rss


async def reference_phases(
    op: HostileOP, jira: FakeJira, subjects: list[str], logins: int, concurrency: int
) -> list[Phase]:
    """The same returning logins, from the same browsers at the same OP, at Apache with
    mod_auth_openidc (bench/apache.py), after the same warm-up."""
    # mod_auth_openidc calls UserInfo at every login when the OP advertises it; the service
    # makes no call but the token call for a returning customer. One call each, then.
    op.advertise_userinfo = False
    with apache(op, free_port()) as (url, process):

        def phase(name: str, logins: int, concurrency: int) -> Awaitable[Phase]:
            return run_phase(
                f"Apache mod_auth_openidc, {name}",
                url,
                "",
                op,
                jira,
                process,
                subjects=subjects,
                logins=logins,
                concurrency=concurrency,
                entry="/protected/7",
            )

        await phase("warm-up", len(subjects), concurrency)
        return [
            await phase("returning", logins, concurrency),
            await phase("2 in flight", logins // 3, 2),
        ]


async def add_desk_rules(
    app: str, admin: dict[str, str], jira: FakeJira, idp_id: str, count: int
) -> None:
    """``count`` desks with rules of their own, the logins' desk (7) among them, restricted
    to the bench's provider and domain: every login is checked against a rule."""
    rules = [
        {"mode": "restricted", "idps": [idp_id], "email_domains": ["example.com"]},
        {
            "mode": "restricted",
            "claims": [{"claim": "cognito:groups", "op": "contains", "value": "partners"}],
            "organizations": ["501"],
        },
    ]
    async with httpx.AsyncClient() as http:
        for n in range(count):
            desk_id = "7" if n == 0 else str(1000 + n)
            if desk_id != "7":
                jira.add_desk(desk_id, f"D{n}", f"Desk {n}")
            answer = await http.put(
                f"{app}/api/admin/portals/{desk_id}/access",
                headers=admin,
                json=rules[0] if n == 0 else rules[n % 2],
            )
            answer.raise_for_status()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--logins", type=int, default=1500)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--protocol", choices=("oidc", "saml", "both"), default="both")
    parser.add_argument("--workers", type=int, nargs="*", default=[1, 2])
    parser.add_argument(
        "--desk-rules",
        type=int,
        default=0,
        help="desks with access rules of their own (the logins' desk among them)",
    )
    parser.add_argument(
        "--no-reference",
        action="store_true",
        help="skip Apache with mod_auth_openidc (run by default, for OpenID Connect)",
    )
    args = parser.parse_args()
    reference = not args.no_reference
    if reference and (why := available()) is not None:
        raise SystemExit(f"the reference {why}, or pass --no-reference")
    print(
        f"database: {os.environ.get('BENCH_DATABASE_URL', 'sqlite').split(':')[0]}; "
        f"{args.concurrency} concurrent browsers; {args.desk_rules} desks with access rules"
    )
    cores = os.cpu_count() or 1
    protocols = ("oidc", "saml") if args.protocol == "both" else (args.protocol,)
    for workers, protocol in [(w, p) for w in args.workers for p in protocols]:
        phases, rss = asyncio.run(
            bench(
                workers,
                args.logins,
                args.concurrency,
                protocol,
                args.desk_rules,
                # Once, beside the service's single worker: both one process.
                reference=reference and workers == 1,
            )
        )
        for phase in phases:
            database = (
                f", {phase.database_cpu_ms:.1f} ms PostgreSQL"
                if phase.database_cpu_ms is not None
                else ""
            )
            print(
                f"{protocol:4} {workers} worker(s), {phase.name:22}: "
                f"{phase.logins_per_second:7.1f} logins/s  "
                f"p50 {phase.p50_ms:6.1f} ms  p99 {phase.p99_ms:6.1f} ms  per login: "
                f"{phase.token_calls:.2f} IdP token, {phase.other_idp_calls:.2f} other IdP, {phase.jira_calls:.2f} Jira calls; "
                f"CPU {phase.app_cpu_ms:.1f} ms app{database}, {phase.harness_cpu_ms:.1f} ms fakes+browsers"
            )
            if workers > 1:
                # Arithmetic, not a measurement: what the app's own CPU cost per login allows
                # when the load generator, the fakes and the database run on other cores.
                print(
                    f"{'':11}{phase.name:22}: app CPU alone allows "
                    f"{cores * 1000 / phase.app_cpu_ms:.0f} logins/s on {cores} cores"
                )
        print(f"{workers} worker(s) RSS: {', '.join(f'{m:.0f} MB' for m in rss)}")


if __name__ == "__main__":
    main()
