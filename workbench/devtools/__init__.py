"""Benchmark and screenshot tooling, outside the runtime import graph (``workbench bench``)."""
