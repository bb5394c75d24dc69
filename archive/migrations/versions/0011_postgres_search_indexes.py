"""PostgreSQL: trigram indexes over the folded text that search reads

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-06

Search compares ``wb_fold(CAST(column AS VARCHAR)) LIKE '%words%'`` (workbench/services/access.py). A GIN index
of trigrams over that same expression lets PostgreSQL find the matching rows of a million-item case
without folding every row at query time (words of three characters or more). SQLite has no such index:
there search scans, as before.
"""

from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None

# (index, table, column): the expression must be written as SQLAlchemy renders the query's.
INDEXES = (
    ("ix_items_title_fold", "items", "title"),
    ("ix_sightings_url_fold", "sightings", "url"),
    ("ix_sightings_account_fold", "sightings", "account"),
    ("ix_sightings_name_fold", "sightings", "original_name"),
    ("ix_captures_record_fold", "captures", "record"),
    ("ix_notes_body_fold", "notes", "body"),
)


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    # pg_trgm is a trusted extension (PostgreSQL 13+): the database's owner may create it.
    op.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
    for name, table, column in INDEXES:
        op.execute(
            f"CREATE INDEX {name} ON {table} USING gin ((wb_fold(CAST({column} AS VARCHAR))) gin_trgm_ops)"
        )


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    for name, _table, _column in INDEXES:
        op.execute(f"DROP INDEX IF EXISTS {name}")
