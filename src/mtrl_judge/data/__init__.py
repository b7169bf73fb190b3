"""Data: images, the unified example schema, benchmark adapters and the synthetic world."""
