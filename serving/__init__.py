"""Serving tfvae SavedModels: TF Serving configuration, REST and gRPC clients, and a development server that speaks
TF Serving's REST and gRPC APIs (for development and tests; production uses `tensorflow_model_server`)."""
