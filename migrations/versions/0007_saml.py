"""saml: the Assertion IDs already accepted (replay cache shared by instances)

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


def downgrade() -> None:
    op.drop_index("ix_saml_seen_assertions_expires_at", table_name="saml_seen_assertions")
    op.drop_table("saml_seen_assertions")
