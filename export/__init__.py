"""The export binary (`python -m export.export_saved_model`); the SavedModel-building library is `tfvae.export`."""
