"""Reading run logs: the last lines across jobs, filtered (`view`, shared by the site and `logs`),
searched in bytes for `logs --grep` (`search`, with `literals`), and following running runs live
(`follow`, for `logs --follow`)."""
