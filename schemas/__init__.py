"""Contracts and table definitions: the landing feeds, the region reference, the Iceberg tables."""
