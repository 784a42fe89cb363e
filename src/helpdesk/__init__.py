"""helpdesk: an AI customer-service assistant."""

__version__ = "0.1.0"
