"""Backups: choose what to take (`selection`, `dependencies`: pure), stream it into an
archive and commit it to storage (`engine`)."""
