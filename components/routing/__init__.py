"""Import paths that existing stacks' state still names; no code lives here (see `htpasswd`)."""
