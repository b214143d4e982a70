"""WhatsApp Gateway: a self-hosted, multi-tenant WhatsApp HTTP API."""

__version__ = "0.1.0"
