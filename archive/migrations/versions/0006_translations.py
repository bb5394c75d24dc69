"""translations: separate linked records of an item's text in another language (LNG-03)

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-06
"""

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "translations",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("item_id", sa.String(length=32), nullable=False),
        sa.Column("source_ref", sa.String(length=64), nullable=False),
        sa.Column("source_text", sa.Text(), nullable=False),
        sa.Column("source_lang", sa.String(length=64), nullable=True),
        sa.Column("target_lang", sa.String(length=64), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("translator_type", sa.String(length=8), nullable=False),
        sa.Column("translator", sa.String(length=128), nullable=False),
        sa.Column("notes", sa.Text(), nullable=False),
        sa.Column("recorded_by", sa.String(length=128), nullable=False),
        sa.Column("created_at", sa.String(length=32), nullable=False),
        sa.ForeignKeyConstraint(["item_id"], ["items.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("translations", schema=None) as batch_op:
        batch_op.create_index("ix_translations_item", ["item_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("translations", schema=None) as batch_op:
        batch_op.drop_index("ix_translations_item")
    op.drop_table("translations")
