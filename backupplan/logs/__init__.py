"""Reading run logs: the last lines across jobs, filtered (`view`, shared by the site and `logs`),
and following running runs live (`follow`, for `logs --follow`)."""
