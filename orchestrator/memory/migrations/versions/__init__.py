"""The caller-memory schema's revisions, oldest first (Alembic ignores this file)."""
