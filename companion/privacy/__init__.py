"""Data rights that span several parts of the service: erasing a person (see docs/privacy.md)."""
