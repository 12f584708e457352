"""Training: Lightning module and data module, source/transfer stages, model folders."""
