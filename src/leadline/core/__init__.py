"""Pure domain logic: no database, no web framework, no I/O."""
