"""Valohai-style model deployments: one Pulumi stack per deploy target."""

import pulumi

from components import stack
from components.deployment import ValohaiDeployment

deployment = ValohaiDeployment("deployment", stack.load())
for key, value in deployment.outputs.items():
    pulumi.export(key, value)
