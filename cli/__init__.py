"""The `allocator` command line."""
