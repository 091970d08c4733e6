"""Order-service adapter: the shop's order API as seen by the actions, plus a demo server."""
