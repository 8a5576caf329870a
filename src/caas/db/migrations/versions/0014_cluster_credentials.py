"""clusters: the application credential each cluster's work runs on (its secret encrypted)

Revision ID: 0014_cluster_credentials
Revises: 0006_cluster_reservations
Create Date: 2026-12-07 20:00:00
"""
from alembic import op
import sqlalchemy as sa


revision = "0014_cluster_credentials"
down_revision = "0006_cluster_reservations"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "cluster_credential",
        sa.Column("cluster_id", sa.String(length=32), nullable=False),
        sa.Column("user_id", sa.String(length=64), nullable=False),
        sa.Column("app_cred_id", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("encrypted_secret", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(["cluster_id"], ["cluster.id"],
                                name=op.f("fk_cluster_credential_cluster_id_cluster"), ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("cluster_id", name=op.f("pk_cluster_credential")),
    )


def downgrade() -> None:
    op.drop_table("cluster_credential")
