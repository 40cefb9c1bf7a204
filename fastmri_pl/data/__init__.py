"""HDF5 k-space data: readers per layout, transforms, the LightningDataModule and the synthetic generator."""
