"""Channels: how customers reach the helpdesk (Telegram today), inbound and outbound."""
