"""Workflow alerts: one alert model, Slack and email channels, delivery with retries, and the sensors that
raise alerts for the workflow's runs."""
