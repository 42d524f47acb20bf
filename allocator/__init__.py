"""allocator: plans where AI workloads run in a GPU data center."""

__version__ = "0.1.0"
