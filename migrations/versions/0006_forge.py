"""forge: tenants installed as a Forge app (Forge Remote), beside Connect ones

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-06 20:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("tenants") as batch:
        batch.add_column(
            sa.Column("platform", sa.String(length=16), nullable=False, server_default="connect")
        )
        batch.alter_column("client_key", existing_type=sa.String(length=255), nullable=True)
        batch.alter_column("shared_secret_encrypted", existing_type=sa.Text(), nullable=True)
        batch.add_column(sa.Column("cloud_id", sa.String(length=64), nullable=True))
        batch.add_column(sa.Column("installation_id", sa.String(length=255), nullable=True))
        batch.add_column(sa.Column("api_base_url", sa.String(length=255), nullable=True))
        batch.add_column(sa.Column("app_token_encrypted", sa.Text(), nullable=True))
        batch.add_column(
            sa.Column("app_token_expires_at", sa.DateTime(timezone=True), nullable=True)
        )
        batch.add_column(sa.Column("last_trigger_at", sa.DateTime(timezone=True), nullable=True))
        batch.create_unique_constraint(op.f("uq_tenants_cloud_id"), ["cloud_id"])
        batch.create_unique_constraint(op.f("uq_tenants_installation_id"), ["installation_id"])
    with op.batch_alter_table("tenants") as batch:
        # The default was for the rows already there; the model sets it on every insert.
        batch.alter_column("platform", existing_type=sa.String(length=16), server_default=None)
    op.create_table(
        "forge_installations",
        sa.Column("installation_id", sa.String(length=255), nullable=False),
        sa.Column("tenant_id", sa.String(length=32), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("retired_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenants.id"],
            name=op.f("fk_forge_installations_tenant_id_tenants"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("installation_id", name=op.f("pk_forge_installations")),
    )


def downgrade() -> None:
    op.drop_table("forge_installations")
    # Forge tenants cannot exist in the older schema.
    op.execute("DELETE FROM tenants WHERE platform = 'forge'")
    with op.batch_alter_table("tenants") as batch:
        batch.drop_constraint(op.f("uq_tenants_installation_id"), type_="unique")
        batch.drop_constraint(op.f("uq_tenants_cloud_id"), type_="unique")
        for column in (
            "last_trigger_at",
            "app_token_expires_at",
            "app_token_encrypted",
            "api_base_url",
            "installation_id",
            "cloud_id",
            "platform",
        ):
            batch.drop_column(column)
        batch.alter_column("shared_secret_encrypted", existing_type=sa.Text(), nullable=False)
        batch.alter_column("client_key", existing_type=sa.String(length=255), nullable=False)
