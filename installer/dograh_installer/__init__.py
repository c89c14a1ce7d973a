"""Installer and drift doctor for a self-hosted Dograh stack."""

# Nothing is imported here: entry.py must be able to check the Python
# version before any module that needs a newer Python is loaded.
__version__ = "0.1.0"
