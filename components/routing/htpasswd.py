"""Where Pulumi state created before the layered layout finds the basic-auth dynamic provider.

Pulumi stores a dynamic resource's provider as a pickle that names its class by import path
(`components.routing.htpasswd.HtpasswdProvider`), and unpickles that old value to delete or read
the resource. Without this path, removing a basicAuth user or `pulumi destroy` of such a stack
fails with "No module named components.routing.htpasswd". New state names
`components.resources.htpasswd`.
"""

from components.resources.htpasswd import HtpasswdProvider

__all__ = ["HtpasswdProvider"]
