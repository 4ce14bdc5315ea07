"""The catalog's Alembic revisions, one per schema change, oldest first (0001 is the first
released catalog). A package so the wheel ships them; Alembic skips this file."""
