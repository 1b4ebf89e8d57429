"""A seeded randomized run of requests against a live gunicorn; see ``tests/test_fuzz.py``."""
