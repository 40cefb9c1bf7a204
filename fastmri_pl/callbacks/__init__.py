"""Lightning callbacks selected by `conf/callbacks/*`: checkpoints, memory, images, throughput,
NaN guards."""
