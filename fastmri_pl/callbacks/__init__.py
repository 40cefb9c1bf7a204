"""Lightning callbacks selected by `fastmri_pl/conf/callbacks/*` (memory budget and peak, images, throughput)."""
