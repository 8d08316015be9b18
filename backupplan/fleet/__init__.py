"""Many machines, one plan: publishing each host's status (`publish`), and reading every host's
published status back for the fleet page, `fleet status` and `fleet check` (`hosts`). No server
of its own: an rclone remote or a shared folder is the only meeting place. See docs/fleet.md."""
