"""Imports every domain's ORM models, so that the metadata (Alembic, tests) knows all tables."""

from __future__ import annotations


def load_all_models() -> None:
    from whatsapp_gateway import lease as _lease  # noqa: F401
    from whatsapp_gateway.api_key import models as _api_key  # noqa: F401
    from whatsapp_gateway.event import models as _event  # noqa: F401
    from whatsapp_gateway.instance import models as _instance  # noqa: F401
    from whatsapp_gateway.message import models as _message  # noqa: F401
    from whatsapp_gateway.node import models as _node  # noqa: F401
    from whatsapp_gateway.sandbox import models as _sandbox  # noqa: F401
    from whatsapp_gateway.state import models as _state  # noqa: F401
    from whatsapp_gateway.tenant import models as _tenant  # noqa: F401
    from whatsapp_gateway.webhook import models as _webhook  # noqa: F401
