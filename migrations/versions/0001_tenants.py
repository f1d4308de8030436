"""tenants: Jira sites that installed the app

Revision ID: 0001
Revises:
Create Date: 2026-11-27
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "tenants",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("client_key", sa.String(length=255), nullable=False),
        sa.Column("shared_secret_encrypted", sa.Text(), nullable=False),
        sa.Column("base_url", sa.String(length=255), nullable=False),
        sa.Column("display_url", sa.String(length=255), nullable=True),
        sa.Column("product_type", sa.String(length=32), nullable=True),
        sa.Column("description", sa.String(length=255), nullable=True),
        sa.Column("installed", sa.Boolean(), nullable=False),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("installed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("uninstalled_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_tenants")),
        sa.UniqueConstraint("client_key", name=op.f("uq_tenants_client_key")),
    )


def downgrade() -> None:
    op.drop_table("tenants")
