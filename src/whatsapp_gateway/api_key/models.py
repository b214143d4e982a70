from __future__ import annotations

import datetime as dt

from sqlalchemy import ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from whatsapp_gateway.db import Base, UTCDateTime, utcnow
from whatsapp_gateway.ids import new_id

API_KEY_ID_PREFIX = "key"


class ApiKey(Base):
    __tablename__ = "api_keys"

    id: Mapped[str] = mapped_column(String(40), primary_key=True, default=lambda: new_id(API_KEY_ID_PREFIX))
    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(100))
    # The first characters of the secret part: enough to find the row, too few to use. Shown in listings so
    # people can tell their keys apart.
    prefix: Mapped[str] = mapped_column(String(16), index=True)
    # sha256 of the whole key. The key is 256 random bits, so a fast hash is as safe as a slow one here.
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow)
    last_used_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    revoked_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
