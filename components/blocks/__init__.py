"""blocks building blocks (registration happens on import)."""
