"""identity: groups and their members, implied roles, domain-specific roles, inherited and
system role assignments

Revision ID: 0009_identity_assignments
Revises: 0001
Create Date: 2026-12-10 09:00:00
"""
from alembic import op
import sqlalchemy as sa


revision = "0009_identity_assignments"
down_revision = "0001"
branch_labels = None
depends_on = None

def upgrade() -> None:
    op.create_table(
        "group",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("domain_id", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(["domain_id"], ["domain.id"], name=op.f("fk_group_domain_id_domain")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_group")),
        sa.UniqueConstraint("domain_id", "name", name=op.f("uq_group_domain_id_name")),
    )
    op.create_index(op.f("ix_group_domain_id"), "group", ["domain_id"], unique=False)
    op.create_table(
        "user_group_membership",
        sa.Column("user_id", sa.String(length=64), nullable=False),
        sa.Column("group_id", sa.String(length=64), nullable=False),
        sa.ForeignKeyConstraint(["user_id"], ["user.id"], name=op.f("fk_user_group_membership_user_id_user"),
                                ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["group_id"], ["group.id"], name=op.f("fk_user_group_membership_group_id_group"),
                                ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("user_id", "group_id", name=op.f("pk_user_group_membership")),
    )
    op.create_index(op.f("ix_user_group_membership_group_id"), "user_group_membership", ["group_id"], unique=False)
    op.create_table(
        "implied_role",
        sa.Column("prior_role_id", sa.String(length=64), nullable=False),
        sa.Column("implied_role_id", sa.String(length=64), nullable=False),
        sa.ForeignKeyConstraint(["prior_role_id"], ["role.id"], name=op.f("fk_implied_role_prior_role_id_role"),
                                ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["implied_role_id"], ["role.id"], name=op.f("fk_implied_role_implied_role_id_role"),
                                ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("prior_role_id", "implied_role_id", name=op.f("pk_implied_role")),
    )
    with op.batch_alter_table("role") as batch:
        batch.add_column(sa.Column("domain_id", sa.String(length=64), nullable=True))
        batch.drop_constraint("uq_role_name", type_="unique")
        batch.create_unique_constraint(op.f("uq_role_domain_id_name"), ["domain_id", "name"])
    where = sa.text("domain_id IS NULL")  # global role names are unique (NULLs are distinct in a unique constraint)
    op.create_index("ix_role_global_name", "role", ["name"], unique=True, sqlite_where=where, postgresql_where=where)
    with op.batch_alter_table("assignment", recreate="always") as batch:
        batch.add_column(sa.Column("inherited", sa.Boolean(), nullable=False, server_default=sa.false()))
    with op.batch_alter_table("assignment", recreate="always") as batch:
        batch.alter_column("inherited", server_default=None)
        batch.drop_constraint("pk_assignment", type_="primary")
        batch.create_primary_key("pk_assignment", ["type", "actor_id", "target_id", "role_id", "inherited"])
        batch.create_index(op.f("ix_assignment_actor_id"), ["actor_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("assignment", recreate="always") as batch:
        batch.drop_index(op.f("ix_assignment_actor_id"))
        batch.drop_constraint("pk_assignment", type_="primary")
        batch.create_primary_key("pk_assignment", ["type", "actor_id", "target_id", "role_id"])
        batch.drop_column("inherited")
    op.drop_index("ix_role_global_name", table_name="role")
    with op.batch_alter_table("role") as batch:
        batch.drop_constraint(op.f("uq_role_domain_id_name"), type_="unique")
        batch.create_unique_constraint("uq_role_name", ["name"])
        batch.drop_column("domain_id")
    op.drop_table("implied_role")
    op.drop_index(op.f("ix_user_group_membership_group_id"), table_name="user_group_membership")
    op.drop_table("user_group_membership")
    op.drop_index(op.f("ix_group_domain_id"), table_name="group")
    op.drop_table("group")
