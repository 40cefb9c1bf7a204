"""The Hydra configs: one group per swappable part. Installed as the package `fastmri_pl.conf` (see
pyproject.toml), so a wheel composes them like this checkout does."""
