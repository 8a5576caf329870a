"""clusters: their users (logins on every node), their profile's options (the slurm
profile's partitions, shared /home size, elastic nodes) and the scaler credentials of elastic
clusters

Revision ID: 0018_cluster_users
Revises: 0016_cluster_user_key
Create Date: 2026-12-08 00:20:00
"""
from alembic import op
import sqlalchemy as sa


revision = "0018_cluster_users"
down_revision = "0016_cluster_user_key"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("cluster") as batch:
        batch.add_column(sa.Column("users", sa.JSON(), nullable=True))
        batch.add_column(sa.Column("options", sa.JSON(), nullable=True))
        batch.add_column(sa.Column("queue", sa.JSON(), nullable=True))
    op.create_table(
        "cluster_sample",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("cluster_id", sa.String(32), sa.ForeignKey("cluster.id", ondelete="CASCADE"), nullable=False),
        sa.Column("time", sa.DateTime(), nullable=False),
        sa.Column("nodes", sa.Integer(), nullable=False),
        sa.Column("pending", sa.Integer(), nullable=False),
        sa.Column("running", sa.Integer(), nullable=False),
    )
    op.create_index("ix_cluster_sample_cluster_id", "cluster_sample", ["cluster_id"])
    op.create_table(
        "cluster_scaler",
        sa.Column("cluster_id", sa.String(32), sa.ForeignKey("cluster.id", ondelete="CASCADE"), primary_key=True),
        sa.Column("user_id", sa.String(64), nullable=False),
        sa.Column("app_cred_id", sa.String(64), nullable=False),
        sa.Column("name", sa.String(255), nullable=False),
        sa.Column("encrypted_secret", sa.Text(), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("cluster_scaler")
    op.drop_index("ix_cluster_sample_cluster_id", table_name="cluster_sample")
    op.drop_table("cluster_sample")
    with op.batch_alter_table("cluster") as batch:
        batch.drop_column("queue")
        batch.drop_column("options")
        batch.drop_column("users")
