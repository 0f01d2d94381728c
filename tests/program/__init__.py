"""Program tier: the whole program (__main__.py) under Pulumi mocks."""
