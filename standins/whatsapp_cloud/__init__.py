"""Simulator of Meta's WhatsApp Cloud API (Graph API, signed webhooks, a phone-like page).

Run: `python -m standins.whatsapp_cloud`.
"""
