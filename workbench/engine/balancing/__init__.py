"""Pools of backends: balancing algorithms, backend state, active and passive health."""
