"""backupd: backup, restore and migration for Kubernetes."""

__version__ = "0.1.0"
