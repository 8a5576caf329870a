"""share: shares, their metadata and access rules, and lock rows (the Shared File Systems
service's own branch)

Revision ID: 0018_share
Revises: 0001
Create Date: 2026-12-08 00:30:00
"""
from alembic import op
import sqlalchemy as sa


revision = "0018_share"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "share",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("project_id", sa.String(length=64), nullable=False),
        sa.Column("user_id", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=True),
        sa.Column("description", sa.String(length=255), nullable=True),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.Column("share_proto", sa.String(length=16), nullable=False),
        sa.Column("status", sa.String(length=32), nullable=False),
        sa.Column("is_public", sa.Boolean(), nullable=False),
        sa.Column("export_id", sa.String(length=36), nullable=False),
        sa.Column("host", sa.String(length=255), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_share")),
    )
    with op.batch_alter_table("share", schema=None) as batch_op:
        batch_op.create_index("ix_share_project_id_created_at", ["project_id", "created_at"], unique=False)
        batch_op.create_index(batch_op.f("ix_share_project_id"), ["project_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_share_name"), ["name"], unique=False)
        batch_op.create_index(batch_op.f("ix_share_status"), ["status"], unique=False)
    op.create_table(
        "share_metadata",
        sa.Column("share_id", sa.String(length=36), nullable=False),
        sa.Column("key", sa.String(length=255), nullable=False),
        sa.Column("value", sa.String(length=1023), nullable=False),
        sa.ForeignKeyConstraint(["share_id"], ["share.id"], name=op.f("fk_share_metadata_share_id_share"),
                                ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("share_id", "key", name=op.f("pk_share_metadata")),
    )
    op.create_table(
        "share_access_rule",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("share_id", sa.String(length=36), nullable=False),
        sa.Column("access_type", sa.String(length=16), nullable=False),
        sa.Column("access_to", sa.String(length=255), nullable=False),
        sa.Column("access_level", sa.String(length=2), nullable=False),
        sa.Column("state", sa.String(length=32), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=True),
        sa.ForeignKeyConstraint(["share_id"], ["share.id"], name=op.f("fk_share_access_rule_share_id_share"),
                                ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_share_access_rule")),
    )
    with op.batch_alter_table("share_access_rule", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_share_access_rule_share_id"), ["share_id"], unique=False)
    op.create_table(
        "share_lock",
        sa.Column("key", sa.String(length=300), nullable=False),
        sa.PrimaryKeyConstraint("key", name=op.f("pk_share_lock")),
    )


def downgrade() -> None:
    op.drop_table("share_lock")
    with op.batch_alter_table("share_access_rule", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_share_access_rule_share_id"))
    op.drop_table("share_access_rule")
    op.drop_table("share_metadata")
    with op.batch_alter_table("share", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_share_status"))
        batch_op.drop_index(batch_op.f("ix_share_name"))
        batch_op.drop_index(batch_op.f("ix_share_project_id"))
        batch_op.drop_index("ix_share_project_id_created_at")
    op.drop_table("share")
