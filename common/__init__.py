"""Code shared by every service of the assistant (configuration, PII masking, infrastructure checks)."""
