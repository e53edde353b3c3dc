"""Handoff service: Rasa's events in from RabbitMQ, tickets and a live inbox for the people who take over.

Kept empty on purpose: Rasa imports `handoff.event_broker` into its own process, and that import must not
pull in Sanic, SQLAlchemy models or anything else of the service.
"""
