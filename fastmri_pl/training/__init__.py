"""What a training run fits: the LightningModule, its loss and validation metrics, and the builders of the
configured network and module (`build`)."""
