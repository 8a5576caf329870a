"""clusters: the public key a create puts on its nodes for the user, kept so that a restart
in the middle of the create can make it again (it was held in memory only)

Revision ID: 0016_cluster_user_key
Revises: 0015_cluster_networks
Create Date: 2026-12-07 21:45:00
"""
from alembic import op
import sqlalchemy as sa


revision = "0016_cluster_user_key"
down_revision = "0015_cluster_networks"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("cluster") as batch:
        batch.add_column(sa.Column("user_public_key", sa.Text(), nullable=False, server_default=""))


def downgrade() -> None:
    with op.batch_alter_table("cluster") as batch:
        batch.drop_column("user_public_key")
