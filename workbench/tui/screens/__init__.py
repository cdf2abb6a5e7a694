"""Screens pushed over the views: request detail, help, save configuration."""
