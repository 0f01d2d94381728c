"""Valohai-style model deployments on Kubernetes: the Pulumi components and their building blocks."""
