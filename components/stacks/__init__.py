"""What every tool (the command line, the console, the status readers) builds on: a stack's config
and outputs through the Pulumi CLI, and requests to its endpoints."""
