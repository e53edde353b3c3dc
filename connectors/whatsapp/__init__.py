"""WhatsApp Cloud API channel: signed webhooks in, durable ordered intake, a rate-limited Graph API client out.

Modules, one concern each: `settings` (env), `signature` (X-Hub-Signature-256), `models` (webhook payloads),
`messages` (Rasa responses -> Graph API message objects), `store` (Redis or in-process state: dedupe, windows,
rate limits, idempotency), `graph` (the Graph API client), `intake` (RabbitMQ partitions or in-process queues),
`channel` (the Rasa `InputChannel`/`OutputChannel`), `dlq` (operator CLI for dead letters).
"""
