"""Drills: restore a backup into a throw-away cluster and prove the app comes back.

A layer of its own between the engines and the drivers: a drill verifies a backup
(backupd.backup.verify) and restores it (backupd.restore), so it stands on both.
The run (run: targets, ephemeral cluster, accounting, problems, verdict), its stored
report (store), and the report's views (summary, markdown, html, all pure).
"""
