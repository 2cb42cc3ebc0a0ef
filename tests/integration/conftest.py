"""The integration tier runs against the session's deployment (tests/conftest.py: `deployment`)."""
