"""Hooks: the Toloka REST API client used by operators, sensors and triggers."""
