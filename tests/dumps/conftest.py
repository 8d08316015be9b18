"""The database servers of tests/databases.py, for the dump tests that need one (marked slow)."""

from tests.databases import mariadb, mariadb_database, postgres, postgres_database  # noqa: F401  (fixtures)
