"""Background work: the Dramatiq broker, the outbox relay, the subscription fan-out, the
scheduler and the actors (DESIGN §7)."""
