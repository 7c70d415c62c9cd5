"""SavedModel building: the decoder plus every fitted sampler in the TF Serving layout (`saved_model`), and the
warmup requests TF Serving replays at load (`warmup`). The `export` binary (export/export_saved_model.py) calls it."""
