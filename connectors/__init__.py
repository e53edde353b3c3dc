"""Rasa input/output channels that connect the assistant to the messaging platforms investors use."""
