"""guard bridge: the site's Atlassian Guard registration (a settings column) and the
AuthnRequests waiting for the customer's sign-in upstream (also the request-ID replay store)

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-07 01:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column(
        "tenant_settings",
        sa.Column("guard_bridge", sa.JSON(), nullable=False, server_default=sa.text("'{}'")),
    )
    op.add_column("portal_sessions", sa.Column("first_name", sa.String(255), nullable=True))
    op.add_column("portal_sessions", sa.Column("last_name", sa.String(255), nullable=True))
    op.create_table(
        "guard_requests",
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("tenant_id", sa.String(length=32), nullable=False),
        sa.Column("request_hash", sa.String(length=64), nullable=False),
        sa.Column("request_id", sa.String(length=256), nullable=False),
        sa.Column("relay_state", sa.String(length=1024), nullable=True),
        sa.Column("force_authn", sa.Boolean(), nullable=False),
        sa.Column("sp_entity_id", sa.String(length=1000), nullable=False),
        sa.Column("acs_url", sa.String(length=2048), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("used_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenants.id"],
            name=op.f("fk_guard_requests_tenant_id_tenants"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("token_hash", name=op.f("pk_guard_requests")),
        sa.UniqueConstraint("tenant_id", "request_hash", name=op.f("uq_guard_requests_tenant_id")),
    )
    op.create_index("ix_guard_requests_expires_at", "guard_requests", ["expires_at"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_guard_requests_expires_at", table_name="guard_requests")
    op.drop_table("guard_requests")
    with op.batch_alter_table("portal_sessions") as batch:
        batch.drop_column("last_name")
        batch.drop_column("first_name")
    with op.batch_alter_table("tenant_settings") as batch:
        batch.drop_column("guard_bridge")
