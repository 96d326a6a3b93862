"""Alembic migrations of the caller-memory schema, run by :mod:`orchestrator.memory.store` at open.

A package (not just a folder) so that ``pip install .`` ships ``env.py`` and ``versions/`` with the
code. Versions are written by hand with explicit operations, one file per schema change.
"""
