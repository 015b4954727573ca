"""Core services every feature uses; imports no feature package."""
