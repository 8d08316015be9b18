"""The validated plan kept between commands, so that a command on an unchanged plan neither parses
nor validates it again (no ruamel, no validation, no APScheduler import; see docs/plan-cache.md).

- **Where**: `$XDG_CACHE_HOME/backupplan/plans/` (else `~/.cache/backupplan/plans/`), a 0700 folder
  with one 0600 file per plan path. `BACKUPPLAN_PLAN_CACHE=off` turns the cache off.
- **What**: the `LoadedPlan` (pickled, with its normalised form and digest already made), and
  before it its `PlanFacts` (plain data: what the commands that only read the state need, read
  without importing the model), under a
  key of everything a loaded plan depends on: the file's bytes, its absolute path (a plan named
  another way, `backups.yaml` or `/etc/backupplan/backups.yaml`, is the same plan), the machine's
  name, `$BACKUPPLAN_HOST`, `$HOME`, the local time zone (`$TZ`,
  /etc/localtime, /etc/timezone), Python's version, and the code that loads plans (every module of
  `backupplan/plan/` and the foundations, by size and modification time); pydantic's version is
  checked after reading.
- **Never kept**: a plan whose text holds `${` (its values come from the environment: they are
  secrets, and a change of one could not be seen without keeping it), a plan loaded for
  `--no-env` or `plan --host`, a plan with problems (it is never loaded at all).
- **Never trusted over the file**: the key is compared on every read. A cache file that is not the
  user's own, not private, damaged or from another version is ignored, and the next full load
  writes it again. A cache folder that cannot be written costs nothing but the speed.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import pickle
import sys
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any, BinaryIO

from backupplan.plan.loaded import LoadedPlan, PlanFacts

_FORMAT = 5
_CODE = Path(__file__).resolve().parent  # backupplan/plan
_FOUNDATIONS = ("errors.py", "secrets.py", "units.py")


def cacheable(text: str) -> bool:
    """Whether a plan with this text may be kept: it reads nothing from the environment."""
    switch = os.environ.get("BACKUPPLAN_PLAN_CACHE", "on").lower()
    return "${" not in text and switch not in ("off", "0", "no")


def read(absolute: Path, display: str, plan_key: str) -> LoadedPlan | None:
    """The LoadedPlan kept for the plan at `absolute` under `plan_key` (see `key`), or None
    (nothing kept, kept for other input, or a cache file that cannot be trusted)."""
    found = _read(absolute, plan_key, whole=True)
    if found is None:
        return None
    from pydantic.version import VERSION

    versions, loaded = found
    if versions != VERSION or not isinstance(loaded, LoadedPlan):
        return None
    if loaded.display_path == display:
        return loaded
    if loaded.warnings or loaded.notes:
        return None  # their text names the plan as it was given then: load it again
    return loaded.named(display)


def read_facts(absolute: Path, plan_key: str) -> PlanFacts | None:
    """The PlanFacts kept for the plan at `absolute` under `plan_key`, or None; the model is not
    imported."""
    facts = _read(absolute, plan_key, whole=False)
    return facts if isinstance(facts, PlanFacts) else None


def _read(absolute: Path, plan_key: str, *, whole: bool) -> Any:
    with read_private(_file(absolute)) as stream:
        if stream is None:
            return None
        try:
            header = pickle.load(stream)  # noqa: S301
            if header != (_FORMAT, plan_key):
                return None
            facts = pickle.load(stream)  # noqa: S301
            return pickle.load(stream) if whole else facts  # noqa: S301
        except Exception:  # a damaged file or one from other code fails in many ways: never trusted
            return None


@contextlib.contextmanager
def read_private(path: Path) -> Iterator[BinaryIO | None]:
    """Open a file of this cache for reading; None when it is missing, or not a private file of
    this user (only such a file, in the user's own cache, is ever trusted: see above)."""
    try:
        stream = open(path, "rb")  # noqa: SIM115 (closed below, also when the caller raises)
    except OSError:
        yield None
        return
    with stream:
        status = os.fstat(stream.fileno())
        yield stream if status.st_uid == os.geteuid() and not status.st_mode & 0o077 else None


def write_private(path: Path, data: bytes) -> None:
    """Write a file of this cache (0600, in a 0700 folder); quietly do nothing when it cannot be
    written: a cache costs nothing but the speed."""
    from backupplan.errors import StateError
    from backupplan.fsutil import atomic_write, ensure_private_dir

    try:
        ensure_private_dir(path.parent)
        atomic_write(path, data, durable=False)
    except (OSError, StateError):
        return


def keep(loaded: LoadedPlan) -> None:
    """Keep `loaded` under its `key` for the next command on the same plan; quietly do nothing
    when the cache folder cannot be written."""
    from pydantic.version import VERSION

    # made now, so that a command reading the copy never builds pydantic's validators or serializers
    loaded.normalized()
    loaded.default_settings()
    header = pickle.dumps((_FORMAT, loaded.key), pickle.HIGHEST_PROTOCOL)
    facts = pickle.dumps(loaded.facts(), pickle.HIGHEST_PROTOCOL)
    body = pickle.dumps((VERSION, loaded), pickle.HIGHEST_PROTOCOL)
    write_private(_file(loaded.path), header + facts + body)


def folder(kind: str = "plans") -> Path:
    """The cache folder of this user for `kind` (`plans`; `status`: status/kept.py)."""
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "backupplan" / kind


def file_for(absolute: Path, kind: str, suffix: str) -> Path:
    """The cache file of `kind` for the plan at `absolute` (one per plan path)."""
    return folder(kind) / (hashlib.sha256(os.fsencode(absolute)).hexdigest()[:32] + suffix)


def _file(absolute: Path) -> Path:
    return file_for(absolute, "plans", ".pickle")


def key(absolute: Path, text: str) -> str:
    """The key of everything a plan loaded from `text` at `absolute` depends on (see above)."""
    digest = hashlib.sha256()
    parts: list[Any] = [
        text,
        os.fspath(absolute),
        os.uname().nodename,
        os.environ.get("BACKUPPLAN_HOST", ""),
        os.environ.get("HOME", ""),
        os.environ.get("TZ", ""),
        _stamp("/etc/localtime"),
        _stamp("/etc/timezone"),
        sys.version,
        _code(),
    ]
    for part in parts:
        digest.update(str(part).encode("utf-8", "surrogateescape") + b"\0")
    return digest.hexdigest()


def _stamp(path: str) -> str:
    try:
        status = os.stat(path)
    except OSError:
        return "-"
    return f"{os.path.realpath(path)}:{status.st_size}:{status.st_mtime_ns}"


def _code() -> str:
    """Size and modification time of every module that loading a plan runs."""
    return code_stamp([_CODE], [_CODE.parent / name for name in _FOUNDATIONS])


def code_stamp(folders: Iterable[Path], files: Iterable[Path] = ()) -> str:
    """Size and modification time of `files` and of the modules in `folders` (and below): what is
    kept from a run of that code is kept under it (the plans here, status/kept.py's documents)."""
    stamps = [_stamp(os.fspath(path)) for path in files]
    for folder in folders:
        for root, subfolders, names in os.walk(folder):
            subfolders[:] = sorted(name for name in subfolders if name != "__pycache__")
            stamps += [_stamp(os.path.join(root, name)) for name in sorted(names) if name.endswith(".py")]
    return "|".join(stamps)
