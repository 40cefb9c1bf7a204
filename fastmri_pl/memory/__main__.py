"""`python -m fastmri_pl.memory`: see `fastmri_pl.memory.cli`."""

from fastmri_pl.memory.cli import main

if __name__ == "__main__":
    main()
