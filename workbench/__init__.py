"""Proxy Workbench: a live forward and reverse proxy you can watch and edit from a terminal."""

__version__ = "0.1.0"
