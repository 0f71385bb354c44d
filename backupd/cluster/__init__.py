"""The Kubernetes API boundary: HTTP client, discovery, paged raw-JSON LIST, writes.

Everything here does I/O; everything above it works on plain dicts.
"""
