"""Human review of preference pairs: queues, reservations, decisions, agreement and the
feedback that reaches principle authors."""
