"""Collectors: one module per source, each turning server replies into catalog points."""
