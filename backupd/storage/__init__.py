"""Object storage: where backups live, and the source of truth.

`base` is the protocol every backend implements; `layout` is the pure key layout;
`location` wraps a backend with access mode, digests and the commit protocol.
`catalog` reads the commit protocol (which records exist), deletes and names;
`records` is the one loader of stored Backup and Restore records and chooses the
latest backup (of a schedule, a namespace, a cluster).
`claims` gives each backup name exactly one writer (a conditional create) and finds
the unfinished uploads of writers that died; `staging` is the private local
directory where archives are built, removed however a run ends.
Backends: `local` (file://, the default), `s3` (boto3; `s3reads` resumes broken
reads), `gcs` (google-cloud-storage).
"""
