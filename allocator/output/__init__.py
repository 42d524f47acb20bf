"""The plan file (schema, writing one from a placement) and the cost report."""
