"""What the engine shows of itself: request records, events, statistics, metrics, access log."""
