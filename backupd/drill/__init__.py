"""Drills: restore a backup into a throw-away cluster and prove the app comes back.

An engine (beside backup, restore and snapshots, never importing them): the run, its
stored report (store), and the report's views (summary, markdown, html, all pure).
"""
