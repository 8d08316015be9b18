"""The snapshot tests' job in a scratch folder, for the verify and restore tests."""

from tests.snapshots.conftest import snapshot_job  # noqa: F401  (a fixture)
