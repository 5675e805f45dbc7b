"""Intention knowledge as training data and as retrieved context."""
