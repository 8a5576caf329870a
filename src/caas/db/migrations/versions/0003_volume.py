"""volume: volumes, their metadata and attachments, quotas and lock rows

Revision ID: 0003_volume
Revises: 0001
Create Date: 2026-11-26 10:00:00
"""
from alembic import op
import sqlalchemy as sa


revision = "0003_volume"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "volume",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("project_id", sa.String(length=64), nullable=False),
        sa.Column("user_id", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=True),
        sa.Column("description", sa.String(length=255), nullable=True),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.Column("new_size", sa.Integer(), nullable=True),
        sa.Column("status", sa.String(length=32), nullable=False),
        sa.Column("availability_zone", sa.String(length=255), nullable=False),
        sa.Column("bootable", sa.Boolean(), nullable=False),
        sa.Column("host", sa.String(length=255), nullable=False),
        sa.Column("migration_status", sa.String(length=32), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_volume")),
    )
    with op.batch_alter_table("volume", schema=None) as batch_op:
        batch_op.create_index("ix_volume_project_id_created_at", ["project_id", "created_at"], unique=False)
        batch_op.create_index(batch_op.f("ix_volume_project_id"), ["project_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_volume_name"), ["name"], unique=False)
        batch_op.create_index(batch_op.f("ix_volume_status"), ["status"], unique=False)

    op.create_table(
        "volume_metadata",
        sa.Column("volume_id", sa.String(length=36), nullable=False),
        sa.Column("key", sa.String(length=255), nullable=False),
        sa.Column("value", sa.String(length=255), nullable=False),
        sa.ForeignKeyConstraint(["volume_id"], ["volume.id"], name=op.f("fk_volume_metadata_volume_id_volume"),
                                ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("volume_id", "key", name=op.f("pk_volume_metadata")),
    )
    op.create_table(
        "volume_attachment",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("volume_id", sa.String(length=36), nullable=False),
        sa.Column("server_id", sa.String(length=36), nullable=False),
        sa.Column("device", sa.String(length=32), nullable=False),
        sa.Column("host", sa.String(length=255), nullable=True),
        sa.Column("attached_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(["volume_id"], ["volume.id"], name=op.f("fk_volume_attachment_volume_id_volume"),
                                ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_volume_attachment")),
        sa.UniqueConstraint("volume_id", name=op.f("uq_volume_attachment_volume_id")),
        sa.UniqueConstraint("server_id", "device", name=op.f("uq_volume_attachment_server_id_device")),
    )
    with op.batch_alter_table("volume_attachment", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_volume_attachment_server_id"), ["server_id"], unique=False)

    op.create_table(
        "volume_quota",
        sa.Column("project_id", sa.String(length=255), nullable=False),
        sa.Column("resource", sa.String(length=64), nullable=False),
        sa.Column("limit", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("project_id", "resource", name=op.f("pk_volume_quota")),
    )
    op.create_table(
        "volume_lock",
        sa.Column("key", sa.String(length=300), nullable=False),
        sa.PrimaryKeyConstraint("key", name=op.f("pk_volume_lock")),
    )


def downgrade() -> None:
    op.drop_table("volume_lock")
    op.drop_table("volume_quota")
    with op.batch_alter_table("volume_attachment", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_volume_attachment_server_id"))
    op.drop_table("volume_attachment")
    op.drop_table("volume_metadata")
    with op.batch_alter_table("volume", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_volume_status"))
        batch_op.drop_index(batch_op.f("ix_volume_name"))
        batch_op.drop_index(batch_op.f("ix_volume_project_id"))
        batch_op.drop_index("ix_volume_project_id_created_at")
    op.drop_table("volume")
