"""Parts of `python -m fastmri_pl.evaluate`: finding recon/target pairs, scoring, records, table, figures."""
