"""clusters: the network a cluster was given (--network) and the external network it uses
(--external-network); a cluster on a given network has no cidr of its own

Revision ID: 0015_cluster_networks
Revises: 0014_cluster_ready, 0014_cluster_credentials
Create Date: 2026-12-07 21:10:00
"""
from alembic import op
import sqlalchemy as sa


revision = "0015_cluster_networks"
# merges the cluster branch's two heads
down_revision = ("0014_cluster_ready", "0014_cluster_credentials")
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("cluster") as batch:
        batch.alter_column("cidr", existing_type=sa.String(length=43), nullable=True)
        batch.add_column(sa.Column("given_network", sa.String(length=64), nullable=True))
        batch.add_column(sa.Column("given_subnet", sa.String(length=64), nullable=True))
        batch.add_column(sa.Column("given_cidr", sa.String(length=43), nullable=True))
        batch.add_column(sa.Column("external_network", sa.String(length=64), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("cluster") as batch:
        for column in ("external_network", "given_cidr", "given_subnet", "given_network"):
            batch.drop_column(column)
        batch.alter_column("cidr", existing_type=sa.String(length=43), nullable=False)
