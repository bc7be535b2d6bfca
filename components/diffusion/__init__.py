"""diffusion building blocks (registration happens on import)."""
