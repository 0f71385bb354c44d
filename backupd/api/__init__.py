"""The API types: pydantic specs and statuses for Backup, Restore, Schedule, Drill.

Pure data, no I/O. The same shapes are stored as JSON in object storage
(`backup.json`, `restore.json`) and served as custom resources by the controller.
"""

API_VERSION = "backupd.io/v1alpha1"
GROUP, VERSION = API_VERSION.split("/")
