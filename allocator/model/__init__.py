"""Domain to model: reduction, node patterns, the placement model, pricing, decoding."""
