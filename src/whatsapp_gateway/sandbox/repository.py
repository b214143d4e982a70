from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

from sqlalchemy import delete, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from whatsapp_gateway.db import serialize_sequence_writers
from whatsapp_gateway.sandbox.models import SandboxDevice, SandboxLink, SandboxMailboxItem, SandboxMessage

# Expired login offers are kept this long, so that scanning one answers "expired" rather than "unknown".
LINK_KEPT_AFTER_EXPIRY = dt.timedelta(hours=1)


class SandboxRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def device(self, instance_id: str) -> SandboxDevice | None:
        return await self.session.get(SandboxDevice, instance_id)

    async def replace_device(self, device: SandboxDevice) -> None:
        await self.session.execute(delete(SandboxDevice).where(SandboxDevice.instance_id == device.instance_id))
        self.session.add(device)
        await self.session.flush()

    async def delete_device(self, instance_id: str) -> bool:
        result = await self.session.execute(delete(SandboxDevice).where(SandboxDevice.instance_id == instance_id))
        return bool(getattr(result, "rowcount", 0))

    async def link(self, code: str) -> SandboxLink | None:
        return await self.session.get(SandboxLink, code)

    async def expire_links(self, instance_id: str, kind: str, *, now: dt.datetime) -> None:
        """End the instance's current offers of that kind (kept a while, so a late scan is told it expired)."""
        await self.session.execute(
            update(SandboxLink)
            .where(SandboxLink.instance_id == instance_id, SandboxLink.kind == kind, SandboxLink.expires_at > now)
            .values(expires_at=now)
        )
        await self.session.execute(delete(SandboxLink).where(SandboxLink.expires_at < now - LINK_KEPT_AFTER_EXPIRY))

    async def add_link(self, link: SandboxLink) -> None:
        self.session.add(link)
        await self.session.flush()

    async def lock_mailbox(self, instance_id: str) -> None:
        # The worker reads "after seq N" and acknowledges "up to N": an item committed late with a lower number would
        # be deleted unread.
        await serialize_sequence_writers(self.session, f"sandbox-mailbox:{instance_id}")

    async def enqueue(self, instance_id: str, kind: str, payload: dict[str, object]) -> None:
        await self.lock_mailbox(instance_id)
        self.session.add(SandboxMailboxItem(instance_id=instance_id, kind=kind, payload=payload))
        await self.session.flush()

    async def items_up_to(self, instance_id: str, seq: int) -> Sequence[SandboxMailboxItem]:
        return (
            await self.session.scalars(
                select(SandboxMailboxItem)
                .where(SandboxMailboxItem.instance_id == instance_id, SandboxMailboxItem.seq <= seq)
                .order_by(SandboxMailboxItem.seq)
            )
        ).all()

    async def items_after(self, instance_id: str, seq: int, *, limit: int) -> Sequence[SandboxMailboxItem]:
        return (
            await self.session.scalars(
                select(SandboxMailboxItem)
                .where(SandboxMailboxItem.instance_id == instance_id, SandboxMailboxItem.seq > seq)
                .order_by(SandboxMailboxItem.seq)
                .limit(limit)
            )
        ).all()

    async def delete_items(self, instance_id: str, *, up_to: int | None = None, kinds: Sequence[str] = ()) -> None:
        statement = delete(SandboxMailboxItem).where(SandboxMailboxItem.instance_id == instance_id)
        if up_to is not None:
            statement = statement.where(SandboxMailboxItem.seq <= up_to)
        if kinds:
            statement = statement.where(SandboxMailboxItem.kind.in_(kinds))
        await self.session.execute(statement)

    async def add_message(self, message: SandboxMessage) -> None:
        self.session.add(message)
        await self.session.flush()

    async def message(self, provider_message_id: str) -> SandboxMessage | None:
        return await self.session.get(SandboxMessage, provider_message_id)

    async def messages_from_instances(self, provider_message_ids: Sequence[str]) -> Sequence[SandboxMessage]:
        """Those of these messages that a sandbox number sent (the others came from simulated outside contacts)."""
        if not provider_message_ids:
            return []
        return (
            await self.session.scalars(
                select(SandboxMessage).where(
                    SandboxMessage.provider_message_id.in_(provider_message_ids),
                    SandboxMessage.sender_instance_id.is_not(None),
                )
            )
        ).all()
