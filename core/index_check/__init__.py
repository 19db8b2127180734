"""obs index-check: the unindexed-query gate for CI."""
