"""Trust: the keys of a location, signatures over backup records, and client-side
encryption. Ground floor: pure computation plus reading and writing key files; no
network, no object store, no cluster (a Secret's data is handed in by the caller).

    keys.py       key material: Ed25519 signing/verify keys, AES-256 key-encryption
                  keys (KEKs), key ids, key files (0600), the Keyring of a location
    signing.py    the canonical encoding of a record; sign and verify it
    envelope.py   a fresh data key per backup, wrapped by a KEK (AES-256-GCM)
    chunked.py    streaming AES-256-GCM in chunks: per-chunk nonces bound to the
                  chunk's position and a final flag, so truncation, reordering and
                  appended data are detected; memory stays flat
"""
