"""Child processes: starting them (the only place that imports subprocess), reading their output,
and stopping them with everything they started. See backupplan.process.execute."""
