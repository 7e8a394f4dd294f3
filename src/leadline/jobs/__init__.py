"""Background work: the outbox drain and periodic tasks, run in the server process (embedded default) or by
`leadline worker` (production, any number of processes: the database rows are the truth)."""
