"""A run's folder and what it holds: project paths, the folder lock, the start and end summaries, and files
written atomically (checkpoints included)."""
