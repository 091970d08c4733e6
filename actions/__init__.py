"""rasa-sdk custom actions (Python 3.11 action server). Thin: they call services and phrase replies."""
