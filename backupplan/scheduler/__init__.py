"""Scheduling: which jobs are due and why, `apply`, the daemon's loop, catch-up and recovery.

See docs/scheduling.md. APScheduler itself is only imported by backupplan/plan/schedule.py.
"""
