"""Pull-request summaries of `pulumi preview --json`: steps, alias moves, the report, its Markdown."""
