"""Several app servers for real: three gunicorn servers behind nginx, on PostgreSQL and S3.
Run them alone with ``FILEPOND_TEST_DB=postgresql pytest -m multiserver``."""
