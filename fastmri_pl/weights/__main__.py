"""`python -m fastmri_pl.weights`: see `fastmri_pl.weights.cli`."""

from fastmri_pl.weights.cli import main

if __name__ == "__main__":
    main()
