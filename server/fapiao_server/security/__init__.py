"""Credential cryptography behind small interfaces: password hashes, one-time codes, access tokens, API key
secrets and the key files they rest on. Nothing here talks to storage or to gRPC."""
