"""The backup archive format: a tar (gzip or zstd) of one JSON file per object.

    resources/<resource>[.<group>]/namespaces/<namespace>/<name>.json
    resources/<resource>[.<group>]/cluster/<name>.json
    index.jsonl                      (last member) one header line, then one line per item

The index is also stored beside the archive (gzip JSON lines) so that describe and
diff do not need the archive. Readers plan from that stored index and read the
archive once, streaming: its members must be exactly the index's items (each once,
of its indexed size and sha256), the inner index the same bytes as the stored one,
within the limits of `format` (16 MiB an object). Anything else is an ArchiveError
naming the backup (`reader`, `tar`); `stored` reads a backup from its location.
"""
