"""Allow `python -m backupplan`."""

from backupplan.cli import main

if __name__ == "__main__":
    main()
