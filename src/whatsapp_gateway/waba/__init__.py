"""The WhatsApp Business Cloud API provider (`waba`): Meta hosts the number, so it runs inside the control plane.

graph.py calls the Graph API (httpx, `WABA_GRAPH_URL`); build.py turns a stored send into Meta's body, checking
Meta's limits first; errors.py maps Meta's error codes to what the gateway does; limiter.py paces sends per number;
inbound.py turns Meta's webhooks into normalized events; service.py ties them together; endpoints.py is the public
webhook route `/hooks/waba/{instance_id}`.
"""
