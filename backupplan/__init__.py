"""backupplan: a declarative backup runner for rsync and rclone jobs."""

__version__ = "0.1.0"
