"""backupctl: the command line for backups, restores, drills and inspection."""
