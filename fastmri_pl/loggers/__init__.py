"""Loggers selected by `conf/logger/*` where Lightning's own do not fit (CSV history kept), and the
life of their runs (one W&B run per job, resumed by id, finished on error: `runs`)."""
