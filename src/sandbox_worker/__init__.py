"""The sandbox provider's worker: protocol v1 over the gateway's simulated WhatsApp network (docs/providers/sandbox.md).

Standard library plus h11 only: one of these runs per WhatsApp number, so its idle memory is what a node's capacity is
counted in.
"""

PROVIDER = "sandbox"
PROVIDER_VERSION = "0.1.0"
PROTOCOL = 1
