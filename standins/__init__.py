"""Stand-ins of external systems (account API, WhatsApp Cloud API) for the local stack, tests and benchmarks."""
