"""Clients for the upstream platforms (httpx), sharing one retry/backoff/rate-budget layer."""
