"""The plan: model, loading with located errors, locations of sources and destinations."""
