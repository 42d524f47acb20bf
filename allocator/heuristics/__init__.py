"""Placing replicas without a model: greedy rules (warm starts), online schedulers, and the
placers `--solver` can name."""
