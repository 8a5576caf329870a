"""clusters: clusters, their nodes, owned cloud resources and events

Revision ID: 0005_clusters
Revises: 0001
Create Date: 2026-12-02 04:30:00
"""
from alembic import op
import sqlalchemy as sa


revision = "0005_clusters"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "cluster",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("project_id", sa.String(length=64), nullable=False),
        sa.Column("user_id", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=63), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("status_reason", sa.Text(), nullable=False),
        sa.Column("step", sa.String(length=32), nullable=True),
        sa.Column("image", sa.String(length=255), nullable=False),
        sa.Column("image_id", sa.String(length=64), nullable=False),
        sa.Column("profile", sa.String(length=32), nullable=False),
        sa.Column("profile_version", sa.String(length=32), nullable=False),
        sa.Column("head_flavor", sa.String(length=255), nullable=False),
        sa.Column("node_flavor", sa.String(length=255), nullable=False),
        sa.Column("key_name", sa.String(length=255), nullable=False),
        sa.Column("keypair_generated", sa.Boolean(), nullable=False),
        sa.Column("cluster_key", sa.Text(), nullable=False),
        sa.Column("cluster_public_key", sa.Text(), nullable=False),
        sa.Column("keep_on_failure", sa.Boolean(), nullable=False),
        sa.Column("cidr", sa.String(length=43), nullable=False),
        sa.Column("floating_ip", sa.String(length=64), nullable=True),
        sa.Column("network_id", sa.String(length=64), nullable=True),
        sa.Column("operation", sa.String(length=16), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_cluster")),
        sa.UniqueConstraint("project_id", "name", name=op.f("uq_cluster_project_id_name")),
        sa.UniqueConstraint("project_id", "cidr", name=op.f("uq_cluster_project_id_cidr")),
    )
    op.create_index(op.f("ix_cluster_project_id"), "cluster", ["project_id"], unique=False)
    op.create_table(
        "cluster_node",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("cluster_id", sa.String(length=32), nullable=False),
        sa.Column("name", sa.String(length=63), nullable=False),
        sa.Column("role", sa.String(length=16), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("flavor", sa.String(length=255), nullable=False),
        sa.Column("server_id", sa.String(length=64), nullable=True),
        sa.Column("port_id", sa.String(length=64), nullable=True),
        sa.Column("fixed_ip", sa.String(length=64), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(["cluster_id"], ["cluster.id"], name=op.f("fk_cluster_node_cluster_id_cluster"),
                                ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_cluster_node")),
        sa.UniqueConstraint("cluster_id", "name", name=op.f("uq_cluster_node_cluster_id_name")),
    )
    op.create_index(op.f("ix_cluster_node_cluster_id"), "cluster_node", ["cluster_id"], unique=False)
    op.create_table(
        "cluster_resource",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("cluster_id", sa.String(length=32), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("cloud_id", sa.String(length=64), nullable=True),
        sa.Column("node", sa.String(length=63), nullable=True),
        sa.Column("extra", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(["cluster_id"], ["cluster.id"], name=op.f("fk_cluster_resource_cluster_id_cluster"),
                                ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_cluster_resource")),
    )
    op.create_index(op.f("ix_cluster_resource_cluster_id"), "cluster_resource", ["cluster_id"], unique=False)
    op.create_table(
        "cluster_event",
        sa.Column("seq", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("cluster_id", sa.String(length=32), nullable=False),
        sa.Column("time", sa.DateTime(), nullable=False),
        sa.Column("step", sa.String(length=32), nullable=False),
        sa.Column("level", sa.String(length=8), nullable=False),
        sa.Column("message", sa.Text(), nullable=False),
        sa.Column("duration", sa.Float(), nullable=True),
        sa.ForeignKeyConstraint(["cluster_id"], ["cluster.id"], name=op.f("fk_cluster_event_cluster_id_cluster"),
                                ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("seq", name=op.f("pk_cluster_event")),
    )
    op.create_index(op.f("ix_cluster_event_cluster_id"), "cluster_event", ["cluster_id"], unique=False)


def downgrade() -> None:
    op.drop_table("cluster_event")
    op.drop_table("cluster_resource")
    op.drop_table("cluster_node")
    op.drop_table("cluster")
