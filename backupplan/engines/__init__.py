"""rsync and rclone behind one interface (`backupplan.engines.base.Engine`), listed in ENGINES."""

from __future__ import annotations

from collections.abc import Mapping

from backupplan.engines.base import (
    Difference,
    Engine,
    Outcome,
    Progress,
    TransferParser,
    TransferSpec,
    TransferStats,
    VerifyParser,
    judge,
)
from backupplan.engines.rclone import RcloneEngine
from backupplan.engines.rsync import RsyncEngine
from backupplan.errors import EngineError

ENGINES: Mapping[str, Engine] = {"rsync": RsyncEngine(), "rclone": RcloneEngine()}

__all__ = [
    "ENGINES",
    "Difference",
    "Engine",
    "Outcome",
    "Progress",
    "TransferParser",
    "TransferSpec",
    "TransferStats",
    "VerifyParser",
    "get_engine",
    "judge",
]


def get_engine(name: str) -> Engine:
    """Given an engine's name from a plan, return it; raise EngineError for an unknown name."""
    try:
        return ENGINES[name]
    except KeyError:
        raise EngineError(f"unknown engine {name!r}: use one of {', '.join(sorted(ENGINES))}") from None
