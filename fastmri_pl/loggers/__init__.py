"""Loggers selected by `fastmri_pl/conf/logger/*` where Lightning's own do not fit (CSV history kept)."""
