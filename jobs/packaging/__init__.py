"""What is built to deploy: the Managed Flink zip, the autoscaler's Lambda zip, and the README's
configuration reference."""
