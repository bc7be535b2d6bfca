"""conv building blocks (registration happens on import)."""
