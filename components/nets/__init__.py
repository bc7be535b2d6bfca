"""nets building blocks (registration happens on import)."""
