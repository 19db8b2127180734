"""obs benchmarks: ``python -m bench [NAME ...]`` (``make bench``) runs them.

Each module here has ``main() -> None`` and prints its figures as ratios against a baseline
measured in the same run. Targets are checked here, never in timed tests.
"""
