"""Proxy modes: each decides where a request goes (route → pool, absolute-form → origin, tunnel)."""
