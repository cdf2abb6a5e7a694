"""HTTP/1.1 on both sides: server (clients in), client (upstream out), headers, TLS."""
