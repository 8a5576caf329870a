"""clusters: the ready check each cluster chose (ssh or servers)

Revision ID: 0014_cluster_ready
Revises: 0006_cluster_reservations
Create Date: 2026-12-07 20:00:00
"""
from alembic import op
import sqlalchemy as sa


revision = "0014_cluster_ready"
down_revision = "0006_cluster_reservations"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("cluster") as batch:
        batch.add_column(sa.Column("ready", sa.String(length=16), nullable=False, server_default="ssh"))


def downgrade() -> None:
    with op.batch_alter_table("cluster") as batch:
        batch.drop_column("ready")
