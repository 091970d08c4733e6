"""Session domain (seed §2.4): queues, agent assignment, transfer, timeouts, tickets, message archive."""
