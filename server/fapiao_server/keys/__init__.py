"""The register's keys, in one place: the Ed25519 signing key every server signs invoices and receipts with and
its publication (signing.py, published.py); the data keys that seal personal details at rest, the master key
that wraps them, and their rotation (encryption.py, data_keys.py, master_key.py, rotation.py); and how key files
are written (files.py). docs/signing.md and docs/encryption.md describe them for operators; the `fapiao
signing-key` and `fapiao keys` commands (entrypoints/) drive them."""
