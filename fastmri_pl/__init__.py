"""fastmri_pl: multi-coil MRI reconstruction (PromptMR, E2E-VarNet) with Lightning + Hydra on 8 GB GPUs."""

__version__ = "0.1.0"
