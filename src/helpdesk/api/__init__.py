"""JSON API for operators and agents."""
