"""What a placement amounts to (figures), why replicas are unplaced, and the independent
checker."""
