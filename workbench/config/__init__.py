"""Configuration: the typed model of a workbench YAML file and its loader/validator."""
