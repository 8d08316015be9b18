"""`dumps:` of a job: databases dumped consistently into the source before each transfer, so that
the backup holds a dump that can be loaded back rather than a database's files copied while it
was writing them. See docs/dumps.md.

Each entry is one database (or, for PostgreSQL and MySQL/MariaDB without `database`, all of
them). The dump is written to `<source>/<dumps_dir>/<name>.<ext>` and travels with the rest of the
source; the fields that apply depend on `engine` and a field that does not apply is an error at
that field.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, Field, ValidationInfo, field_validator, model_validator
from pydantic_core import PydanticCustomError

from backupplan.plan.locations import parse_location
from backupplan.plan.model.fields import Duration, Strict

DumpEngine = Literal["postgresql", "mysql", "mariadb", "sqlite"]
DUMPS_DIR = ".backupplan-dumps"
NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
NAME_HINT = "1-64 letters, digits, '.', '-' and '_', starting with a letter or digit (it names the file)"
SERVERS = ("postgresql", "mysql", "mariadb")
# Which engines each field applies to (the others: every engine).
APPLIES: dict[str, tuple[str, ...]] = {
    "database": SERVERS,
    "host": SERVERS,
    "port": SERVERS,
    "socket": SERVERS,
    "user": SERVERS,
    "password": SERVERS,
    "format": ("postgresql",),
    "path": ("sqlite",),
}


def _problem(kind: str, reason: str, hint: str) -> PydanticCustomError:
    return PydanticCustomError(kind, "{reason}", {"reason": reason, "hint": hint})


def _dumps_dir(value: str) -> str:
    parts = value.strip("/").split("/")
    if value.startswith(("/", "~")) or not value.strip("/") or any(part in ("", ".", "..") for part in parts):
        raise _problem(
            "dumps_dir",
            f"{value!r} is not a folder inside the source",
            "write a relative folder name like .backupplan-dumps or db/dumps (no '..', not absolute): "
            "the dumps must be inside the source to be copied with it",
        )
    return "/".join(parts)


DumpsDir = Annotated[str, AfterValidator(_dumps_dir)]


class Dump(Strict):
    """One database dumped before the transfer. PostgreSQL uses pg_dump (pg_dumpall without
    `database`), MySQL and MariaDB mysqldump or mariadb-dump with --single-transaction, SQLite the
    online backup API; the password reaches the tool through its environment or a 0600 option file,
    never its command line."""

    name: str = Field(
        description="The dump's name, unique in the job: the file is <name>.sql (<name>.dump for "
        "PostgreSQL's custom format, <name>.sqlite for SQLite) in the job's dumps_dir.",
        examples=["app"],
    )
    engine: DumpEngine = Field(
        description="The database: postgresql, mysql or mariadb (the same, preferring the mysql* or "
        "mariadb* programs), or sqlite.",
        examples=["postgresql"],
    )
    database: str | None = Field(
        None,
        min_length=1,
        description="postgresql, mysql, mariadb: the database to dump; leave it out to dump all of "
        "them (pg_dumpall, --all-databases).",
        examples=["app"],
    )
    path: str | None = Field(
        None,
        min_length=1,
        description="sqlite: the database file (`~` expanded; relative to the plan's folder).",
        examples=["/var/lib/app/app.db"],
    )
    host: str | None = Field(
        None,
        min_length=1,
        description="postgresql, mysql, mariadb: the server's host name or address (default: the "
        "client's own default, usually the local socket).",
        examples=["127.0.0.1"],
    )
    port: int | None = Field(
        None,
        ge=1,
        le=65535,
        description="postgresql, mysql, mariadb: the server's TCP port (default 5432 or 3306).",
        examples=[5432],
    )
    socket: str | None = Field(
        None,
        min_length=1,
        description="postgresql: the folder holding the server's unix socket; mysql, mariadb: the "
        "socket file. Instead of host.",
        examples=["/run/postgresql"],
    )
    user: str | None = Field(
        None,
        min_length=1,
        description="postgresql, mysql, mariadb: the user to log in as (default: the client's, "
        "usually the name of the user running backupplan).",
        examples=["backup"],
    )
    password: str | None = Field(
        None,
        description="postgresql, mysql, mariadb: the password; write ${VAR} so that it stays out of "
        "the plan (values from the environment are secret: never shown, never on a command line). "
        "Without it the client's own sources apply (~/.pgpass, ~/.my.cnf, peer authentication).",
        examples=["${APP_DB_PASSWORD}"],
    )
    format: Literal["plain", "custom"] = Field(
        "plain",
        description="postgresql: plain SQL (<name>.sql, loaded with psql; rsync sends only what "
        "changed) or pg_dump's compressed custom format (<name>.dump, loaded with pg_restore). "
        "Dumps of all databases are plain.",
        examples=["custom"],
    )
    timeout: Duration | None = Field(
        None,
        description="Stop this dump after this long (the run fails); the job's timeout bounds it anyway.",
        examples=["30m"],
    )
    extra_args: list[str] = Field(
        default_factory=list,
        description="Extra options for the dump program, passed as they are; each must start with "
        "'-' (e.g. --no-owner, --exclude-table=audit_log, --skip-events).",
        examples=[["--exclude-table=public.audit_log"]],
    )

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        if not NAME.match(value):
            raise _problem("dump_name", f"{value!r} is not a dump name", NAME_HINT)
        return value

    @field_validator(*APPLIES)
    @classmethod
    def _applies(cls, value: Any, info: ValidationInfo) -> Any:
        engine = info.data.get("engine")
        assert info.field_name is not None
        engines = APPLIES[info.field_name]
        if engine is not None and value is not None and engine not in engines:
            raise _problem(
                "dump_field",
                f"{info.field_name} does not apply to {engine} dumps",
                f"{info.field_name} is for {', '.join(engines)}",
            )
        return value

    @field_validator("extra_args")
    @classmethod
    def _options_only(cls, value: list[str]) -> list[str]:
        for argument in value:
            if not argument.startswith("-"):
                raise _problem(
                    "extra_args",
                    f"{argument!r} is not an option",
                    "extra_args takes options only; attach values with '=' (--exclude-table=logs)",
                )
        return value

    @model_validator(mode="after")
    def _complete(self) -> Dump:
        if self.engine == "sqlite" and self.path is None:
            raise _problem("dump_path", "a sqlite dump needs path", "path: the database file")
        if self.host is not None and self.socket is not None:
            raise _problem("dump_socket", "give host or socket, not both", "socket is the local way in")
        if self.format == "custom" and self.database is None:
            raise _problem(
                "dump_format",
                "the custom format dumps one database",
                "name it in database, or leave format out: all databases are dumped as plain SQL",
            )
        return self

    @property
    def file_name(self) -> str:
        """The dump's file in the dumps folder."""
        if self.engine == "sqlite":
            return f"{self.name}.sqlite"
        return f"{self.name}.dump" if self.format == "custom" else f"{self.name}.sql"

    @property
    def everything(self) -> bool:
        """True for a dump of every database of a server (pg_dumpall, --all-databases)."""
        return self.engine != "sqlite" and self.database is None


def check_dumps(dumps: list[Dump], engine: str | None, source: str | None) -> list[Dump]:
    """Given a job's dumps, its engine and its source, return the dumps; raise when two share a name
    or the source is not local (the dumps are written into it)."""
    if not dumps:
        return dumps
    if engine is not None and source is not None and not parse_location(source, engine, Path("/")).is_local:
        raise _problem(
            "dump_source",
            "dumps need a local source: they are written into it before the transfer",
            "make a job whose source is a local folder (e.g. /var/backups/db) for the dumps",
        )
    seen: set[str] = set()
    for dump in dumps:
        if dump.name in seen:
            raise _problem(
                "dump_names",
                f"two dumps are named {dump.name!r}",
                "each dump's name must be unique in the job",
            )
        seen.add(dump.name)
    return dumps
