"""What a training run fits: the LightningModule, its loss and validation metrics, and the factory that builds
a run's parts from a composed config."""
