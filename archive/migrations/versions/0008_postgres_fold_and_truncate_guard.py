"""PostgreSQL: wb_fold() for Unicode search, and the custody log refuses TRUNCATE too

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-06

SQLite needs neither: archive/db.py registers wb_fold on each connection (archive/fold.py holds the
steps both engines take), and SQLite has no TRUNCATE (its DELETE triggers already refuse).
"""

from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

# archive.fold.fold in SQL. ICU's root locale lower-cases whatever the database's own LC_CTYPE is (with
# LC_CTYPE=C, plain lower() would touch ASCII only).
FOLD = r"""
CREATE OR REPLACE FUNCTION wb_fold(t text) RETURNS text
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE AS $fold$
SELECT normalize(
    regexp_replace(
        replace(replace(lower(normalize(t, NFD) COLLATE "und-x-icu"), 'ß', 'ss'), 'ς', 'σ'),
        '[\u0610-\u061a\u064b-\u065f\u0670\u06d6-\u06dc\u06df-\u06e4\u06e7\u06e8\u06ea-\u06ed\u0640]', '', 'g'),
    NFC)
$fold$
"""


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute(FOLD)
    # Row triggers (0001) do not fire on TRUNCATE: a statement trigger refuses it.
    for table in ("custody_events", "checkpoints"):
        op.execute(
            f"CREATE TRIGGER {table}_no_truncate BEFORE TRUNCATE ON {table} "
            "FOR EACH STATEMENT EXECUTE FUNCTION wb_append_only()"
        )


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    for table in ("custody_events", "checkpoints"):
        op.execute(f"DROP TRIGGER IF EXISTS {table}_no_truncate ON {table}")
    op.execute("DROP FUNCTION IF EXISTS wb_fold(text)")
