"""Backups: choose what to take (`selection`: pure; what `auto` adds comes from
backupd.kinds), stream it into an archive and commit it to storage (`engine`)."""
