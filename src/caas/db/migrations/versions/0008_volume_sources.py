"""volume: the source volume of a clone, and the image metadata of a volume made from an image

Revision ID: 0008_volume_sources
Revises: 0003_volume
Create Date: 2026-12-07 06:30:00
"""
from alembic import op
import sqlalchemy as sa


revision = "0008_volume_sources"
down_revision = "0003_volume"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("volume") as batch:
        batch.add_column(sa.Column("source_volid", sa.String(length=36), nullable=True))
    op.create_table(
        "volume_image_metadata",
        sa.Column("volume_id", sa.String(length=36), nullable=False),
        sa.Column("key", sa.String(length=255), nullable=False),
        sa.Column("value", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(["volume_id"], ["volume.id"], name=op.f("fk_volume_image_metadata_volume_id_volume"),
                                ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("volume_id", "key", name=op.f("pk_volume_image_metadata")),
    )


def downgrade() -> None:
    op.drop_table("volume_image_metadata")
    with op.batch_alter_table("volume") as batch:
        batch.drop_column("source_volid")
