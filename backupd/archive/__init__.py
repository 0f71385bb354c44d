"""The backup archive format: a tar (gzip or zstd) of one JSON file per object.

    resources/<resource>[.<group>]/namespaces/<namespace>/<name>.json
    resources/<resource>[.<group>]/cluster/<name>.json
    index.jsonl                      (last member) one header line, then one line per item

The index is also stored beside the archive (gzip JSON lines) so that describe and
diff do not need the archive. Every item carries its sha256 in the index; readers
verify each one.
"""
