"""Keeping secrets and values inside the process: scrubbing of text, URLs and events."""
