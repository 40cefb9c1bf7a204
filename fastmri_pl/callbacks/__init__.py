"""Lightning callbacks selected by `fastmri_pl/conf/callbacks/*`: checkpoints, memory, images, throughput,
NaN guards."""
