"""Runner tests use the snapshot tests' job in a scratch folder, and their leftover-process check."""

from tests.snapshots.conftest import _nothing_left_running, snapshot_job  # noqa: F401  (fixtures)
