"""One module per command; each exposes `<verb>_command(...) -> int` (the exit code)."""
