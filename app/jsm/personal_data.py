"""Atlassian's personal data reporting API, which Marketplace apps that store personal data
must call (Atlassian's user privacy guide for app developers).

The app stores customers' account ids with their email and name (customer links, sessions,
login activity). Each such account is reported once per cycle (Atlassian's ``Cycle-Period``
answer, 7 days by default), 90 to a request, as the app itself (its Connect JWT, whatever
the site chose for customers). Atlassian answers which accounts are ``closed``: everything the
app holds about them at that site is erased. ``updated`` means the Atlassian profile changed;
the app keeps no copy of it (the email and name come from the customer's IdP at each
sign-in), so there is nothing to refresh.

Several instances may run the job at once: a site is reported by whichever takes its
PostgreSQL advisory lock first.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.crypto import SecretBoxError
from app.db import DATABASE_FAILURES
from app.errors import JiraError, JiraUnavailableError
from app.jsm import repository
from app.jsm.client import JiraClient
from app.jsm.directory import JiraDirectory
from app.jsm.schemas import PersonalDataReportDTO, parse

logger = logging.getLogger(__name__)

REPORT_PATH = "/app/report-accounts/"
BATCH_SIZE = 90  # accounts per request, Atlassian's limit
MAX_BATCHES_PER_RUN = 50  # a site with more accounts is finished by the next runs
DEFAULT_CYCLE = timedelta(days=7)
RETRY_AFTER_FAILURE = timedelta(hours=1)
_ISO_DURATION = re.compile(
    r"P(?:(?P<days>\d+)D)?(?:T(?:(?P<hours>\d+)H)?(?:(?P<minutes>\d+)M)?(?:(?P<seconds>\d+)S)?)?"
)


@dataclass
class SiteReport:
    reported: int = 0
    erased: list[str] = field(default_factory=list)
    failed: bool = False


def cycle_period(header: str | None) -> timedelta:
    """Atlassian's ``Cycle-Period`` (seconds, or an ISO 8601 duration such as ``P7D``);
    the documented default when it is missing, unreadable or implausibly short."""
    value = (header or "").strip()
    period: timedelta | None = None
    if value.isdigit():
        period = timedelta(seconds=int(value))
    elif (match := _ISO_DURATION.fullmatch(value)) and any(match.groupdict().values()):
        parts = {name: int(number) for name, number in match.groupdict().items() if number}
        period = timedelta(**parts)
    if period is None or period < timedelta(hours=1):
        return DEFAULT_CYCLE
    return period


async def report_batch(
    session: AsyncSession, jira: JiraClient, tenant_id: str, *, now: datetime | None = None
) -> SiteReport:
    """Report up to 90 of the site's due accounts and erase the closed ones; the caller
    commits. The Jira call comes before any write, so no write lock waits on Jira."""
    now = now or datetime.now(UTC)
    result = SiteReport()
    due = await repository.due_accounts(session, tenant_id, now=now, limit=BATCH_SIZE)
    if not due:
        return result
    accounts = [account_id for account_id, _ in due]
    body = {
        "accounts": [
            {"accountId": account_id, "updatedAt": stored.isoformat().replace("+00:00", "Z")}
            for account_id, stored in due
        ]
    }
    try:
        response = await jira.request("POST", REPORT_PATH, json=body, ok=(200, 204))
        answer = parse(
            PersonalDataReportDTO,
            response.json() if response.status_code == 200 else {},
            "a personal data report",
        )
    except (JiraError, ValueError):
        logger.warning("personal data report failed for a site; retrying later", exc_info=True)
        await repository.mark_reported(
            session, tenant_id, accounts, now=now, due=now + RETRY_AFTER_FAILURE
        )
        result.failed = True
        return result
    statuses = {item.account_id: item.status for item in answer.accounts}
    closed = [a for a in accounts if statuses.get(a) == "closed"]
    for account_id in closed:
        await repository.erase_account(session, tenant_id, account_id)
    kept = [a for a in accounts if a not in closed]
    cycle = cycle_period(response.headers.get("cycle-period"))
    await repository.mark_reported(session, tenant_id, kept, now=now, due=now + cycle)
    result.reported = len(accounts)
    result.erased = closed
    return result


async def report_site(
    sessionmaker: async_sessionmaker[AsyncSession], jira: JiraClient, tenant_id: str
) -> SiteReport:
    """Report every due account of the site, a batch per transaction."""
    total = SiteReport()
    for _ in range(MAX_BATCHES_PER_RUN):
        async with sessionmaker() as session:
            if not await _take_site(session, tenant_id):
                break  # another instance is reporting this site
            batch = await report_batch(session, jira, tenant_id)
            await session.commit()
        total.reported += batch.reported
        total.erased += batch.erased
        if batch.failed:
            total.failed = True
        if batch.failed or not batch.reported:
            break
    return total


def _lock_key(tenant_id: str) -> int:
    return int.from_bytes(
        hashlib.sha256(f"personal-data:{tenant_id}".encode()).digest()[:8], "big", signed=True
    )


async def _take_site(session: AsyncSession, tenant_id: str) -> bool:
    """Whether this instance reports the site's next batch (PostgreSQL: one instance at a
    time, until this transaction ends; SQLite serves one instance)."""
    if session.get_bind().dialect.name != "postgresql":
        return True
    taken = await session.scalar(
        text("SELECT pg_try_advisory_xact_lock(:key)"), {"key": _lock_key(tenant_id)}
    )
    return bool(taken)


# The database failed, or the site's secret cannot be decrypted (a key retired too early).
_SITE_FAILURES: tuple[type[Exception], ...] = (
    *DATABASE_FAILURES,
    SecretBoxError,
    JiraUnavailableError,
)


async def report_all_sites(
    sessionmaker: async_sessionmaker[AsyncSession], directory: JiraDirectory
) -> dict[str, int]:
    """One reporting run over every active site, each in its own transaction."""
    async with sessionmaker() as session:
        # Connect sites only: how a Forge remote reaches the reporting API is not settled
        # here yet (see the README's Forge section).
        tenants = await repository.active_sites(session, platform="connect")
    totals = {"sites": 0, "reported": 0, "erased": 0, "failed": 0}
    for tenant in tenants:
        try:
            report = await report_site(sessionmaker, directory.app_client(tenant), tenant.id)
        except _SITE_FAILURES:
            # The other sites are still reported, and this one at the next run.
            logger.warning("personal data report failed for a site; retrying later", exc_info=True)
            totals["failed"] += 1
            continue
        totals["sites"] += 1
        totals["reported"] += report.reported
        totals["erased"] += len(report.erased)
        totals["failed"] += int(report.failed)
    return totals


async def report_forever(
    sessionmaker: async_sessionmaker[AsyncSession],
    directory: JiraDirectory,
    *,
    interval_seconds: float,
) -> None:
    """The background task: a reporting run per interval (each account is sent once per
    cycle however often this runs)."""
    while True:
        await asyncio.sleep(interval_seconds)
        try:
            totals = await report_all_sites(sessionmaker, directory)
        except DATABASE_FAILURES:
            logger.warning("personal data report: no database; retrying later", exc_info=True)
            continue
        if totals["reported"] or totals["failed"]:
            logger.info("personal data reported: %s", totals)
