"""The workbench's views, one module each."""
