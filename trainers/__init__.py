"""absl binaries of tfvae (train, fit_density) and the jobs they run."""
