"""The filter language, its compiler and the live rule set."""
