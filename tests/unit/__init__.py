"""Unit tier: pure builders, naming, settings and valohai.yaml rules, the command line's logic."""
