"""Create the demo's sample data under demo/data/ (deterministic; a few MiB)."""

from __future__ import annotations

import random
import sys
from pathlib import Path

WORDS = "backup plan snapshot retention rsync rclone daily weekly photo holiday invoice letter".split()


def main(root: Path) -> None:
    rng = random.Random(7)
    documents = root / "documents"
    photos = root / "photos"
    for year in ("2024", "2025"):
        for index in range(12):
            path = documents / year / f"letter-{index:02d}.txt"
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(" ".join(rng.choice(WORDS) for _ in range(200 + 40 * index)) + "\n")
    (documents / "notes with spaces.md").write_text("# Notes\n\nFile names with spaces are fine.\n")
    (documents / ".cache").mkdir(exist_ok=True)
    (documents / ".cache" / "thumbs.db").write_text("excluded by the plan\n")
    for album in ("holiday", "garden"):
        for index in range(8):
            path = photos / album / f"IMG_{index:04d}.jpg"
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(rng.randbytes(150_000 + 10_000 * index))
    print(f"demo data in {root}")


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else Path("demo/data"))
