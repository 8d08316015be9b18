"""`dumps:` in the plan: defaults, file names, and every mistake reported at its place."""

from __future__ import annotations

from pathlib import Path

import pytest

from backupplan.errors import PlanError
from backupplan.plan.load import load_plan
from backupplan.plan.model import Dump, Job
from tests.runner.helpers import write_plan

JOB = "  db:\n    engine: rsync\n    source: src\n    destination: out\n"


def problems(tmp_path: Path, jobs: str) -> list[str]:
    with pytest.raises(PlanError) as caught:
        load_plan(write_plan(tmp_path, jobs))
    return [f"{problem.line}:{problem.path}: {problem.message}" for problem in caught.value.problems]


def test_a_job_without_dumps_has_none_and_the_default_folder() -> None:
    job = Job(engine="rsync", source="/a", destination="/b")
    assert job.dumps == []
    assert job.dumps_dir == ".backupplan-dumps"


def test_file_names_follow_engine_and_format() -> None:
    assert Dump(name="app", engine="postgresql", database="app").file_name == "app.sql"
    assert Dump(name="app", engine="postgresql", database="app", format="custom").file_name == "app.dump"
    assert Dump(name="shop", engine="mariadb").file_name == "shop.sql"
    assert Dump(name="notes", engine="sqlite", path="/n.db").file_name == "notes.sqlite"
    assert Dump(name="all", engine="mysql").everything
    assert not Dump(name="one", engine="mysql", database="one").everything
    assert not Dump(name="lite", engine="sqlite", path="/x").everything


def test_a_valid_plan_with_every_engine_loads(tmp_path: Path) -> None:
    loaded = load_plan(
        write_plan(
            tmp_path,
            JOB + "    dumps_dir: db/dumps/\n    dumps:\n"
            "      - {name: app, engine: postgresql, database: app, host: 127.0.0.1, port: 5432,"
            " user: backup, password: '${PW:-x}', format: custom, timeout: 10m}\n"
            "      - {name: everything, engine: postgresql, socket: /run/postgresql}\n"
            "      - {name: shop, engine: mariadb, database: shop, extra_args: [--skip-events]}\n"
            "      - {name: notes, engine: sqlite, path: notes.db}\n",
        )
    )
    job = loaded.jobs["db"]
    assert job.dumps_dir == "db/dumps"
    assert [dump.name for dump in job.dumps] == ["app", "everything", "shop", "notes"]
    assert job.dumps[0].timeout == 600.0
    assert job.dumps[0].password == "x"


def test_every_mistake_is_located(tmp_path: Path) -> None:
    found = problems(
        tmp_path,
        JOB + "    dumps_dir: ../elsewhere\n    dumps:\n"
        "      - {name: app, engine: postgresql, hots: localhost}\n"  # 12
        "      - {name: lite, engine: sqlite, path: /x.db, host: h}\n"  # 13
        "      - {name: 'no good', engine: mysql}\n"  # 14
        "      - {name: m, engine: mysql, format: custom}\n"  # 15
        "      - {name: o, engine: oracle}\n"  # 16
        "      - {name: s, engine: sqlite}\n"  # 17
        "      - {name: c, engine: postgresql, format: custom}\n"  # 18
        "      - {name: h, engine: postgresql, host: a, socket: /run}\n"  # 19
        "      - {name: x, engine: postgresql, extra_args: [app]}\n",  # 20
    )
    assert found == [
        "10:jobs.db.dumps_dir: '../elsewhere' is not a folder inside the source",
        "12:jobs.db.dumps[0].hots: unknown key 'hots'",
        "13:jobs.db.dumps[1].host: host does not apply to sqlite dumps",
        "14:jobs.db.dumps[2].name: 'no good' is not a dump name",
        "15:jobs.db.dumps[3].format: format does not apply to mysql dumps",
        "16:jobs.db.dumps[4].engine: unknown engine 'oracle'",
        "17:jobs.db.dumps[5]: a sqlite dump needs path",
        "18:jobs.db.dumps[6]: the custom format dumps one database",
        "19:jobs.db.dumps[7]: give host or socket, not both",
        "20:jobs.db.dumps[8].extra_args: 'app' is not an option",
    ]


def test_names_are_unique_and_the_source_is_local(tmp_path: Path) -> None:
    found = problems(
        tmp_path,
        JOB
        + "    dumps:\n      - {name: a, engine: sqlite, path: /a.db}\n      - {name: a, engine: sqlite, path: /b.db}\n"
        "  far:\n    engine: rsync\n    source: host:/data\n    destination: out2\n"
        "    dumps: [{name: a, engine: sqlite, path: /a.db}]\n",
    )
    assert found == [
        "10:jobs.db.dumps: two dumps are named 'a'",
        "17:jobs.far.dumps: dumps need a local source: they are written into it before the transfer",
    ]


@pytest.mark.parametrize("folder", ["/abs", "~/x", "a/../b", ".", ""])
def test_dumps_dir_stays_inside_the_source(tmp_path: Path, folder: str) -> None:
    found = problems(tmp_path, JOB + f"    dumps_dir: '{folder}'\n")
    assert len(found) == 1 and "is not a folder inside the source" in found[0]


def test_the_schema_knows_dumps() -> None:
    from backupplan.plan.schema import plan_schema

    definitions = plan_schema()["$defs"]
    assert "dumps" in definitions["Job"]["properties"]
    assert set(definitions["Dump"]["properties"]) == set(Dump.model_fields)
