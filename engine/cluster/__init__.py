"""Cluster plumbing (NATS JetStream); imported only in cluster mode."""
