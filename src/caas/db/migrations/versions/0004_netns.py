"""netns: the record of kernel objects the netns driver creates

Revision ID: 0004_netns
Revises: 0001
Create Date: 2026-12-02 01:00:00
"""
from alembic import op
import sqlalchemy as sa


revision = "0004_netns"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "kernel_object",
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("netns", sa.String(length=64), nullable=False),
        sa.Column("owner_kind", sa.String(length=16), nullable=False),
        sa.Column("owner_id", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("kind", "name", "netns", name=op.f("pk_kernel_object")),
    )
    with op.batch_alter_table("kernel_object", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_kernel_object_owner_kind"), ["owner_kind"], unique=False)
        batch_op.create_index(batch_op.f("ix_kernel_object_owner_id"), ["owner_id"], unique=False)


def downgrade() -> None:
    op.drop_table("kernel_object")
