"""`backupplan site serve`: preview the status site on 127.0.0.1."""

from __future__ import annotations

from pathlib import Path

import click

from backupplan.errors import BackupplanError


def site_serve_command(plan_path: str, directory: str | None, port: int) -> int:
    """Serve the site folder (`directory`, else the plan's site_dir) until Ctrl-C; raise
    BackupplanError when there is no site there or the port is taken."""
    from backupplan.site.serve import make_server

    if directory is not None:
        site_dir = Path(directory).expanduser().absolute()
    else:
        from backupplan.plan.load import load_plan

        site_dir = load_plan(plan_path).site_dir
    if not (site_dir / "index.html").is_file():
        raise BackupplanError(
            f"{site_dir} holds no site yet (no index.html): it is written after every run and "
            "by `backupplan site build`; or pass the folder with --dir"
        )
    try:
        server = make_server(site_dir, port, report=lambda line: click.echo(line, err=True))
    except OSError as error:
        raise BackupplanError(
            f"cannot listen on 127.0.0.1:{port}: {error.strerror or error}; pick another port with --port"
        ) from None
    bound = server.server_address[1]
    click.echo(f"Serving {site_dir} at http://127.0.0.1:{bound}/ (Ctrl-C to stop)")
    try:
        server.serve_forever()
    finally:
        server.server_close()
    return 0


def site_build_command(plan_path: str) -> int:
    """Rebuild the whole site from the plan and the journal."""
    from backupplan.journal import Journal
    from backupplan.plan.load import load_plan
    from backupplan.status.sitefeed import build

    loaded = load_plan(plan_path)
    with Journal.open_or_read_only(
        loaded.state_dir, keep_runs=loaded.plan.settings.log_retention.runs
    ) as journal:
        report = build(loaded, journal)
    click.echo(
        f"Built {loaded.site_dir}: {len(report.written)} files written, {report.unchanged} unchanged, "
        f"{len(report.removed)} removed. Open {loaded.site_dir / 'index.html'} "
        "or run `backupplan site serve`."
    )
    return 0
