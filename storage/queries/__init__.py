"""Query functions: keyword-only, each taking the session of the caller's unit of work."""
