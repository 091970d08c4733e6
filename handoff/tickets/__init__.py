"""Tickets (seed §2 Ticket-Service): what customer service still owes a customer after the chat.

``states`` (the status machine) and ``policy`` (categories, SLA, escalation, what customers read) are pure;
``service`` is the unit-of-work layer the API, the CLI and the handoff clock call; ``auto`` turns the handoff's
unserved requests and left messages into tickets; ``sla`` escalates breaches; ``api`` and ``cli`` are thin.
"""
