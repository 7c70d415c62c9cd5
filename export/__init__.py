"""SavedModel export: the decoder plus every fitted sampler, in the TF Serving layout."""
