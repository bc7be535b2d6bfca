"""testing building blocks (registration happens on import)."""
