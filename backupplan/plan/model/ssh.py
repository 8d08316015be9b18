"""`ssh:` of an rsync job whose source or destination is `host:path` or `ssh://user@host:port/path`:
how to reach the host, with defaults that never prompt and never accept a changed host key. See
docs/remote.md."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from backupplan.plan.model.fields import Duration, Strict


class Ssh(Strict):
    """How rsync reaches a `host:path` over ssh (every key optional)."""

    port: int | None = Field(
        None, ge=1, le=65535, description="The ssh port (default: 22, or the ssh config's).", examples=[2222]
    )
    identity_file: str | None = Field(
        None,
        description="The private key to log in with (`ssh -i`); `~` is expanded. Without it ssh "
        "uses its usual keys and agent.",
        examples=["~/.ssh/backup_ed25519"],
    )
    known_hosts: str | None = Field(
        None,
        description="A known_hosts file of its own for this host (`UserKnownHostsFile`).",
        examples=["~/.ssh/known_hosts_backup"],
    )
    host_keys: Literal["accept-new", "strict"] = Field(
        "accept-new",
        description="accept-new: trust an unknown host's key the first time and refuse a changed "
        "one; strict: refuse unknown hosts too (put the key in known_hosts first). A changed key "
        "is never accepted silently.",
        examples=["strict"],
    )
    connect_timeout: Duration = Field(
        10.0, description="Give up connecting after this long.", examples=["10s"]
    )
    options: list[str] = Field(
        default_factory=list,
        description="More `-o Name=value` options for ssh.",
        examples=[["Compression=no", "IPQoS=throughput"]],
    )
