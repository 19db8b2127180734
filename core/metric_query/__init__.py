"""Datadog metric queries as typed values built from the catalog, and their text form."""
