"""The sandbox provider's worker: protocol v1 over the gateway's simulated WhatsApp network (docs/providers/sandbox.md)."""
