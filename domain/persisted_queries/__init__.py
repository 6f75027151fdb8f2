"""Persisted GraphQL documents: the production allow-list (``trama persisted-queries``)."""
