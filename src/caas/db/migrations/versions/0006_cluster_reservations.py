"""clusters: the nodes an operation is about, node sizes for quota reservations, a lock row per project

Revision ID: 0006_cluster_reservations
Revises: 0005_clusters
Create Date: 2026-12-07 04:00:00
"""
from alembic import op
import sqlalchemy as sa


revision = "0006_cluster_reservations"
down_revision = "0005_clusters"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("cluster") as batch:
        batch.add_column(sa.Column("operation_nodes", sa.JSON(), nullable=True))
    with op.batch_alter_table("cluster_node") as batch:
        batch.add_column(sa.Column("vcpus", sa.Integer(), nullable=False, server_default="0"))
        batch.add_column(sa.Column("ram", sa.Integer(), nullable=False, server_default="0"))
    op.create_table(
        "cluster_project_lock",
        sa.Column("project_id", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("project_id"),
    )


def downgrade() -> None:
    op.drop_table("cluster_project_lock")
    with op.batch_alter_table("cluster_node") as batch:
        batch.drop_column("ram")
        batch.drop_column("vcpus")
    with op.batch_alter_table("cluster") as batch:
        batch.drop_column("operation_nodes")
