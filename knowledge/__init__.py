"""Knowledge service: FAQ and document knowledge base, hybrid retrieval, grounded answers (seed §2.5)."""
