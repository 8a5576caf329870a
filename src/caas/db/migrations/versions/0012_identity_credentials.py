"""identity: credentials, domain configuration, OAuth1 consumers and tokens, password history,
and the user's password expiry and last activity

Revision ID: 0012_identity_credentials
Revises: 0001
Create Date: 2026-12-07 15:30:00
"""
from alembic import op
import sqlalchemy as sa


revision = "0012_identity_credentials"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "credential",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("user_id", sa.String(length=64), nullable=False),
        sa.Column("project_id", sa.String(length=64), nullable=True),
        sa.Column("type", sa.String(length=255), nullable=False),
        sa.Column("encrypted_blob", sa.Text(), nullable=False),
        sa.Column("extra", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_credential")),
    )
    with op.batch_alter_table("credential") as batch:
        batch.create_index(batch.f("ix_credential_user_id"), ["user_id"], unique=False)
        batch.create_index(batch.f("ix_credential_project_id"), ["project_id"], unique=False)
    op.create_table(
        "domain_config",
        sa.Column("domain_id", sa.String(length=64), nullable=False),
        sa.Column("group", sa.String(length=255), nullable=False),
        sa.Column("option", sa.String(length=255), nullable=False),
        sa.Column("value", sa.JSON(), nullable=True),
        sa.Column("sensitive", sa.Boolean(), nullable=False),
        sa.ForeignKeyConstraint(["domain_id"], ["domain.id"], name=op.f("fk_domain_config_domain_id_domain"),
                                ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("domain_id", "group", "option", name=op.f("pk_domain_config")),
    )
    op.create_table(
        "oauth_consumer",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("encrypted_secret", sa.Text(), nullable=False),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("extra", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_oauth_consumer")),
    )
    op.create_table(
        "oauth_request_token",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("encrypted_secret", sa.Text(), nullable=False),
        sa.Column("consumer_id", sa.String(length=64), nullable=False),
        sa.Column("requested_project_id", sa.String(length=64), nullable=False),
        sa.Column("role_ids", sa.JSON(), nullable=True),
        sa.Column("authorizing_user_id", sa.String(length=64), nullable=True),
        sa.Column("verifier", sa.String(length=64), nullable=True),
        sa.Column("expires_at", sa.Float(), nullable=True),
        sa.ForeignKeyConstraint(["consumer_id"], ["oauth_consumer.id"],
                                name=op.f("fk_oauth_request_token_consumer_id_oauth_consumer"), ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_oauth_request_token")),
    )
    with op.batch_alter_table("oauth_request_token") as batch:
        batch.create_index(batch.f("ix_oauth_request_token_consumer_id"), ["consumer_id"], unique=False)
    op.create_table(
        "oauth_access_token",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("encrypted_secret", sa.Text(), nullable=False),
        sa.Column("consumer_id", sa.String(length=64), nullable=False),
        sa.Column("authorizing_user_id", sa.String(length=64), nullable=False),
        sa.Column("project_id", sa.String(length=64), nullable=False),
        sa.Column("role_ids", sa.JSON(), nullable=False),
        sa.Column("expires_at", sa.Float(), nullable=True),
        sa.ForeignKeyConstraint(["consumer_id"], ["oauth_consumer.id"],
                                name=op.f("fk_oauth_access_token_consumer_id_oauth_consumer"), ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_oauth_access_token")),
    )
    with op.batch_alter_table("oauth_access_token") as batch:
        batch.create_index(batch.f("ix_oauth_access_token_consumer_id"), ["consumer_id"], unique=False)
        batch.create_index(batch.f("ix_oauth_access_token_authorizing_user_id"), ["authorizing_user_id"],
                           unique=False)
    op.create_table(
        "password_history",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("user_id", sa.String(length=64), nullable=False),
        sa.Column("password_hash", sa.String(length=128), nullable=False),
        sa.Column("created_at", sa.Float(), nullable=False),
        sa.Column("self_service", sa.Boolean(), nullable=False),
        sa.ForeignKeyConstraint(["user_id"], ["user.id"], name=op.f("fk_password_history_user_id_user"),
                                ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_password_history")),
    )
    with op.batch_alter_table("password_history") as batch:
        batch.create_index(batch.f("ix_password_history_user_id"), ["user_id"], unique=False)
    with op.batch_alter_table("user") as batch:
        batch.add_column(sa.Column("password_expires_at", sa.Float(), nullable=True))
        batch.add_column(sa.Column("last_active_at", sa.Float(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("user") as batch:
        batch.drop_column("last_active_at")
        batch.drop_column("password_expires_at")
    op.drop_table("password_history")
    op.drop_table("oauth_access_token")
    op.drop_table("oauth_request_token")
    op.drop_table("oauth_consumer")
    op.drop_table("domain_config")
    op.drop_table("credential")
