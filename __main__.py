"""Valohai-style model deployments: one Pulumi stack per deploy target."""

import pulumi

from components.resources import stack
from components.resources.deployment import ValohaiDeployment

deployment = ValohaiDeployment("deployment", stack.load())
for key, value in deployment.outputs.items():
    pulumi.export(key, value)
