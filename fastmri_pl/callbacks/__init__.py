"""Lightning callbacks selected by `fastmri_pl/conf/callbacks/*`: memory, images, throughput, NaN guards."""
