"""The real FilePond client (the demo's pinned npm build) in headless Chromium, against a live
server running the app. Run them alone with ``pytest -m browser``."""
