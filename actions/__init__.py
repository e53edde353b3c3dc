"""Custom actions, one module per domain; rasa-sdk registers every submodule of this package by itself."""
