"""saml: the Assertion IDs already accepted (replay cache shared by instances), each
site's service-provider keys, and what a SAML LogoutRequest names of a portal session

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-06 22:30:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "saml_seen_assertions",
        sa.Column("assertion_hash", sa.String(length=64), nullable=False),
        sa.Column("idp_id", sa.String(length=32), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["idp_id"],
            ["identity_providers.id"],
            name=op.f("fk_saml_seen_assertions_idp_id_identity_providers"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("assertion_hash", name=op.f("pk_saml_seen_assertions")),
    )
    op.create_index(
        "ix_saml_seen_assertions_expires_at",
        "saml_seen_assertions",
        ["expires_at"],
        unique=False,
    )

    op.create_table(
        "saml_sp_keys",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("tenant_id", sa.String(length=32), nullable=False),
        sa.Column("purpose", sa.String(length=10), nullable=False, server_default="sp"),
        sa.Column("private_key_encrypted", sa.Text(), nullable=False),
        sa.Column("certificate_pem", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("retired_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenants.id"],
            name=op.f("fk_saml_sp_keys_tenant_id_tenants"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_saml_sp_keys")),
    )
    op.create_index(
        "ix_saml_sp_keys_tenant", "saml_sp_keys", ["tenant_id", "created_at"], unique=False
    )
    op.add_column("portal_sessions", sa.Column("saml_name_id", sa.String(1000), nullable=True))
    op.add_column(
        "portal_sessions", sa.Column("saml_name_id_format", sa.String(255), nullable=True)
    )
    op.add_column("portal_sessions", sa.Column("saml_session_index", sa.String(255), nullable=True))
    op.create_index(
        "ix_portal_sessions_saml_name_id",
        "portal_sessions",
        ["idp_id", "saml_name_id"],
        unique=False,
    )


def downgrade() -> None:
    op.drop_index("ix_portal_sessions_saml_name_id", table_name="portal_sessions")
    with op.batch_alter_table("portal_sessions") as batch:
        batch.drop_column("saml_session_index")
        batch.drop_column("saml_name_id_format")
        batch.drop_column("saml_name_id")
    op.drop_index("ix_saml_sp_keys_tenant", table_name="saml_sp_keys")
    op.drop_table("saml_sp_keys")
    op.drop_index("ix_saml_seen_assertions_expires_at", table_name="saml_seen_assertions")
    op.drop_table("saml_seen_assertions")
