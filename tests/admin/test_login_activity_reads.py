"""The admin page's login activity is read newest first through an index, not by sorting all
of a site's rows (up to 100,000 are kept)."""

from __future__ import annotations

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.login.audit import recent_logins_query


@pytest.mark.parametrize("before_id", [None, 1234])
async def test_a_page_of_login_activity_needs_no_sort(
    session: async_sessionmaker[AsyncSession], before_id: int | None
) -> None:
    async with session() as s:
        dialect = s.get_bind().dialect
        if dialect.name != "sqlite":
            pytest.skip("SQLite's plan is stable at any table size; PostgreSQL's is not")
        sql = str(
            recent_logins_query("tenant-1", limit=50, before_id=before_id).compile(
                dialect=dialect, compile_kwargs={"literal_binds": True}
            )
        )
        plan = " | ".join(row[-1] for row in await s.execute(text(f"EXPLAIN QUERY PLAN {sql}")))
    assert "ix_login_events_tenant_newest" in plan, plan
    assert "TEMP B-TREE" not in plan, plan
