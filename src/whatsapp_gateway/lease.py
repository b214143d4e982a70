"""Leases: which control-plane replica runs a singleton background loop (the reconciler).

A lease is one row: its holder and until when it holds. A holder renews it every round; when a holder dies, the
lease runs out and another replica takes over. This is what keeps two replicas on one database from both starting a
worker for the same instance.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import String, or_, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.orm import Mapped, mapped_column

from whatsapp_gateway.db import Base, UTCDateTime, utcnow


class Lease(Base):
    __tablename__ = "leases"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    holder: Mapped[str] = mapped_column(String(128))
    expires_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())


async def acquire(sessionmaker: async_sessionmaker[AsyncSession], name: str, holder: str, *, ttl: dt.timedelta) -> bool:
    """Take or renew the lease; False while another holder's lease runs."""
    async with sessionmaker() as session:
        now = utcnow()
        taken = await session.execute(
            update(Lease)
            .where(Lease.name == name, or_(Lease.holder == holder, Lease.expires_at < now))
            .values(holder=holder, expires_at=now + ttl)
        )
        if getattr(taken, "rowcount", 0) == 1:
            await session.commit()
            return True
        if await session.get(Lease, name) is not None:
            await session.rollback()
            return False
        session.add(Lease(name=name, holder=holder, expires_at=now + ttl))
        try:
            await session.commit()
        except IntegrityError:  # another replica created it first
            await session.rollback()
            return False
        return True


async def release(sessionmaker: async_sessionmaker[AsyncSession], name: str, holder: str) -> None:
    """Give the lease up now (a clean stop), so that a standby replica need not wait for it to run out."""
    async with sessionmaker() as session:
        await session.execute(
            update(Lease).where(Lease.name == name, Lease.holder == holder).values(expires_at=utcnow())
        )
        await session.commit()
