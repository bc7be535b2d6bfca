"""embed building blocks (registration happens on import)."""
