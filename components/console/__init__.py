"""The web console: a page per stack, a request form, alias changes (`python -m components console`)."""
