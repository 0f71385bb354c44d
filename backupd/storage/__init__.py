"""Object storage: where backups live, and the source of truth.

`base` is the protocol every backend implements; `layout` is the pure key layout;
`location` wraps a backend with access mode, digests and the commit protocol.
Backends: `local` (file://, the default), `s3` (boto3), `gcs` (google-cloud-storage).
"""
