"""Alembic migrations of the research database, run by ``pedpain db init``."""
