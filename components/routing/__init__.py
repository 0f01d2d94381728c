"""URL routing: one route model for versions and aliases, rendered as Gateway API or Ingress objects.

`model` computes the routes (pure data), `gateway` and `ingress` render them as plain Kubernetes
dicts, `htpasswd` makes basic-auth hashes, and `resources` wires all of it to Pulumi resources.
"""
