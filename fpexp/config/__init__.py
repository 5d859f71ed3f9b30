"""Typed configuration: the schema, its registration with Hydra, and validation."""
