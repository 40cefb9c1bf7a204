"""Lightning callbacks selected by `conf/callbacks/*` (memory budget and peak, images, throughput)."""
