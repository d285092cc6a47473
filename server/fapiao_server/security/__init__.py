"""Credential cryptography behind small interfaces: password hashes, one-time codes, access tokens, API key
secrets, and the TLS files and certificates of the listeners (the key files they rest on are in keys/). Nothing
here talks to storage or to gRPC."""
