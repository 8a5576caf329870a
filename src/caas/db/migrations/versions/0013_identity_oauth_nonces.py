"""identity: the OAuth1 nonces seen (a request reusing one is a replay)

Revision ID: 0013_identity_oauth_nonces
Revises: 0001
Create Date: 2026-12-08 10:00:00
"""
from alembic import op
import sqlalchemy as sa


revision = "0013_identity_oauth_nonces"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "oauth_nonce",
        sa.Column("consumer_id", sa.String(length=64), nullable=False),
        sa.Column("timestamp", sa.BigInteger(), nullable=False),
        sa.Column("nonce", sa.String(length=255), nullable=False),
        sa.PrimaryKeyConstraint("consumer_id", "timestamp", "nonce", name=op.f("pk_oauth_nonce")),
    )
    with op.batch_alter_table("oauth_nonce") as batch:
        batch.create_index(batch.f("ix_oauth_nonce_timestamp"), ["timestamp"], unique=False)


def downgrade() -> None:
    op.drop_table("oauth_nonce")
