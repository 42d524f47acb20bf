"""The inventory file format: schema, loading and cross-checks, GPU catalog, synthetic fleets."""
