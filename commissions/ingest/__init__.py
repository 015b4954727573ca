"""Ingest of activations and billing from the operator's billing system (SPEC §5.1, §7)."""
