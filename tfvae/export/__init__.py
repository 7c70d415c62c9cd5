"""Exports: the decoder plus every fitted sampler as a SavedModel in the TF Serving layout (`saved_model`), the
warmup requests TF Serving replays at load (`warmup`), and the samplers and decoder as a TensorFlow Lite model for
devices (`tflite`). The `export` binary (export/export_saved_model.py) calls them."""
