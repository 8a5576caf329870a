"""identity: catalog writes (regions' parents, services' and endpoints' extra attributes, caas's
own entries marked, endpoints without a region), endpoint groups and project endpoint filters
(OS-EP-FILTER), nested projects and project tags

Revision ID: 0010_identity_catalog
Revises: 0001
Create Date: 2026-12-07 15:40:00
"""
from alembic import op
import sqlalchemy as sa


revision = "0010_identity_catalog"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("project") as batch:
        batch.add_column(sa.Column("parent_id", sa.String(length=64), nullable=True))
        batch.create_index(batch.f("ix_project_parent_id"), ["parent_id"], unique=False)
        batch.create_foreign_key(batch.f("fk_project_parent_id_project"), "project", ["parent_id"], ["id"])
    op.create_table(
        "project_tag",
        sa.Column("project_id", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.ForeignKeyConstraint(["project_id"], ["project.id"], name=op.f("fk_project_tag_project_id_project"),
                                ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("project_id", "name", name=op.f("pk_project_tag")),
    )
    with op.batch_alter_table("region") as batch:
        batch.add_column(sa.Column("parent_region_id", sa.String(length=255), nullable=True))
        batch.add_column(sa.Column("extra", sa.JSON(), nullable=False, server_default="{}"))
        batch.create_index(batch.f("ix_region_parent_region_id"), ["parent_region_id"], unique=False)
        batch.create_foreign_key(batch.f("fk_region_parent_region_id_region"), "region", ["parent_region_id"], ["id"])
    with op.batch_alter_table("service") as batch:
        batch.alter_column("description", existing_type=sa.Text(), nullable=True)
        batch.add_column(sa.Column("extra", sa.JSON(), nullable=False, server_default="{}"))
        batch.add_column(sa.Column("caas_key", sa.String(length=64), nullable=True))
        batch.create_unique_constraint(batch.f("uq_service_caas_key"), ["caas_key"])
    with op.batch_alter_table("endpoint") as batch:
        batch.alter_column("region_id", existing_type=sa.String(length=255), nullable=True)
        batch.add_column(sa.Column("extra", sa.JSON(), nullable=False, server_default="{}"))
        batch.add_column(sa.Column("caas_managed", sa.Boolean(), nullable=False, server_default=sa.false()))
    # Before this revision nobody could write the catalog: every entry is caas's own.
    op.execute("UPDATE service SET caas_key = type")
    op.execute(sa.text("UPDATE endpoint SET caas_managed = :t").bindparams(t=True))
    for table, column in (("region", "extra"), ("service", "extra"), ("endpoint", "extra"),
                          ("endpoint", "caas_managed")):
        with op.batch_alter_table(table) as batch:
            batch.alter_column(column, server_default=None)
    op.create_table(
        "endpoint_group",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("filters", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_endpoint_group")),
    )
    op.create_table(
        "project_endpoint",
        sa.Column("project_id", sa.String(length=64), nullable=False),
        sa.Column("endpoint_id", sa.String(length=64), nullable=False),
        sa.ForeignKeyConstraint(["endpoint_id"], ["endpoint.id"], name=op.f("fk_project_endpoint_endpoint_id_endpoint"),
                                ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["project_id"], ["project.id"], name=op.f("fk_project_endpoint_project_id_project"),
                                ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("project_id", "endpoint_id", name=op.f("pk_project_endpoint")),
    )
    op.create_index(op.f("ix_project_endpoint_endpoint_id"), "project_endpoint", ["endpoint_id"], unique=False)
    op.create_table(
        "project_endpoint_group",
        sa.Column("endpoint_group_id", sa.String(length=64), nullable=False),
        sa.Column("project_id", sa.String(length=64), nullable=False),
        sa.ForeignKeyConstraint(["endpoint_group_id"], ["endpoint_group.id"],
                                name=op.f("fk_project_endpoint_group_endpoint_group_id_endpoint_group"),
                                ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["project_id"], ["project.id"],
                                name=op.f("fk_project_endpoint_group_project_id_project"), ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("endpoint_group_id", "project_id", name=op.f("pk_project_endpoint_group")),
    )
    op.create_index(op.f("ix_project_endpoint_group_project_id"), "project_endpoint_group", ["project_id"],
                    unique=False)


def downgrade() -> None:
    op.drop_table("project_endpoint_group")
    op.drop_table("project_endpoint")
    op.drop_table("endpoint_group")
    op.execute("DELETE FROM endpoint WHERE region_id IS NULL")
    with op.batch_alter_table("endpoint") as batch:
        batch.drop_column("caas_managed")
        batch.drop_column("extra")
        batch.alter_column("region_id", existing_type=sa.String(length=255), nullable=False)
    op.execute("UPDATE service SET description = '' WHERE description IS NULL")
    with op.batch_alter_table("service") as batch:
        batch.drop_constraint(batch.f("uq_service_caas_key"), type_="unique")
        batch.drop_column("caas_key")
        batch.drop_column("extra")
        batch.alter_column("description", existing_type=sa.Text(), nullable=False)
    with op.batch_alter_table("region") as batch:
        batch.drop_constraint(batch.f("fk_region_parent_region_id_region"), type_="foreignkey")
        batch.drop_index(batch.f("ix_region_parent_region_id"))
        batch.drop_column("extra")
        batch.drop_column("parent_region_id")
    op.drop_table("project_tag")
    with op.batch_alter_table("project") as batch:
        batch.drop_constraint(batch.f("fk_project_parent_id_project"), type_="foreignkey")
        batch.drop_index(batch.f("ix_project_parent_id"))
        batch.drop_column("parent_id")
