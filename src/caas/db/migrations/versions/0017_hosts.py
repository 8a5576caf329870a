"""hosts: join tokens, joined agent hosts, their commands and instances, and which compute hosts
an agent reports (issue 20)

Revision ID: 0017_hosts
Revises: 0003_compute (the compute branch; every service has its own)
Create Date: 2026-12-07 22:00:00
"""
from alembic import op
import sqlalchemy as sa


revision = "0017_hosts"
down_revision = "0003_compute"  # the compute branch: it adds compute_host.agent
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "host_join_token",
        sa.Column("secret_hash", sa.String(64), primary_key=True),
        sa.Column("host_name", sa.String(63), nullable=False, index=True),
        sa.Column("expires_at", sa.DateTime(), nullable=False),
        sa.Column("used_at", sa.DateTime(), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
    )
    op.create_table(
        "agent_host",
        sa.Column("name", sa.String(63), primary_key=True),
        sa.Column("credential_hash", sa.String(64), nullable=False, unique=True),
        sa.Column("joined_at", sa.DateTime(), nullable=False),
        sa.Column("last_seen", sa.DateTime(), nullable=False),
    )
    op.create_table(
        "host_command",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("host", sa.String(63), nullable=False, index=True),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("args", sa.JSON(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False, index=True),
        sa.Column("result", sa.JSON(), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
    )
    op.create_table(
        "host_instance",
        sa.Column("instance_id", sa.String(36), primary_key=True),
        sa.Column("host", sa.String(63), nullable=False, index=True),
    )
    with op.batch_alter_table("compute_host") as batch:
        batch.add_column(sa.Column("agent", sa.Boolean(), nullable=False, server_default=sa.false()))


def downgrade() -> None:
    with op.batch_alter_table("compute_host") as batch:
        batch.drop_column("agent")
    op.drop_table("host_instance")
    op.drop_table("host_command")
    op.drop_table("agent_host")
    op.drop_table("host_join_token")
