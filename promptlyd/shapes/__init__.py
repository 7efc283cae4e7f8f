"""API shapes: pure input validation and output serialization (no I/O)."""
