"""What `train` assembles for a fit: the datamodule, callbacks, loggers and Trainer from a config
(`factory`), and the run's calibration on the card across its attempts (`calibrate`)."""
