"""Getting metrics out, shared by a service and the agent: resource attributes, Prometheus
text and its names, and the small HTTP server that serves it."""
