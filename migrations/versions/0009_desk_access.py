"""desk access: who may enter each service desk's portal, and the claims a portal session
keeps for those rules

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-07 01:10:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "desk_access",
        sa.Column("tenant_id", sa.String(length=32), nullable=False),
        sa.Column("service_desk_id", sa.String(length=32), nullable=False),
        sa.Column("mode", sa.String(length=12), nullable=False),
        sa.Column("idps", sa.JSON(), nullable=False),
        sa.Column("email_domains", sa.JSON(), nullable=False),
        sa.Column("claims", sa.JSON(), nullable=False),
        sa.Column("organizations", sa.JSON(), nullable=False),
        sa.Column("contact", sa.String(length=500), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenants.id"],
            name=op.f("fk_desk_access_tenant_id_tenants"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("tenant_id", "service_desk_id", name=op.f("pk_desk_access")),
    )
    op.add_column(
        "portal_sessions",
        sa.Column("claims", sa.JSON(), nullable=False, server_default=sa.text("'{}'")),
    )


def downgrade() -> None:
    with op.batch_alter_table("portal_sessions") as batch:
        batch.drop_column("claims")
    op.drop_table("desk_access")
