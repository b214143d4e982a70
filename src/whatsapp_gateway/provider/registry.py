"""What each provider can do and how its worker is started: the source of `GET /api/providers`.

Capabilities are facts about the engine, kept here rather than asked of a worker, because the API must answer for
providers whose worker is not running (or cannot run on this host).
"""

from __future__ import annotations

import functools
import importlib.util
import os
import shutil
import sys
from dataclasses import dataclass
from pathlib import Path

from whatsapp_gateway.config import Settings
from whatsapp_gateway.instance.models import Provider

ALL_MESSAGE_TYPES = frozenset(
    {"text", "image", "video", "audio", "document", "sticker", "location", "contact", "reaction", "poll"}
)


@dataclass(frozen=True)
class ProviderInfo:
    name: Provider
    description: str
    message_types: frozenset[str]
    pair_code: bool
    read_receipts: bool
    presence: bool
    contacts_check: bool
    # Where the provider is not built yet, the reason shown by /api/providers and by instance creation.
    unavailable_reason: str | None = None

    @property
    def available(self) -> bool:
        return self.unavailable_reason is None


# Where the workers of other languages are built (`make workers`): `providers/<name>/` in a checkout. An
# installation that keeps them elsewhere points PROVIDERS_DIR there.
PROVIDERS_DIR = Path(os.environ.get("PROVIDERS_DIR") or Path(__file__).resolve().parents[3] / "providers")

# The built artefact of each worker, relative to PROVIDERS_DIR, and how it is run.
_WHATSMEOW_BIN = Path("whatsmeow/bin/whatsmeow-worker")
_BAILEYS_JS = Path("baileys/dist/main.js")
_WAWEBJS_JS = Path("wawebjs/dist/main.js")


# Whether workers run from their images (RUNTIME=docker) rather than from what is built on this host. Set once at
# start by `use_images()`: the gateway's own image holds no worker, and a container runtime needs none on its host.
_workers_from_images = False


def use_images() -> None:
    """Workers run from their images: availability no longer depends on workers built on this host. A node without
    a provider's image fails that instance's start, and the instance says why (`status_reason`)."""
    global _workers_from_images
    _workers_from_images = True
    _providers.cache_clear()


def _sandbox_reason() -> str | None:
    if _workers_from_images:
        return None
    return None if importlib.util.find_spec("sandbox_worker") else "The sandbox worker package is not installed."


def _binary_reason(relative: Path) -> str | None:
    if _workers_from_images:
        return None
    path = PROVIDERS_DIR / relative
    if not os.access(path, os.X_OK):
        return f"Worker not built: {path} is missing (run `make workers`)."
    return None


def _node_reason(relative: Path) -> str | None:
    if _workers_from_images:
        return None
    if shutil.which("node") is None:
        return "Node.js is not installed on this host (the worker needs Node 20 or newer)."
    path = PROVIDERS_DIR / relative
    if not path.is_file():
        return f"Worker not built: {path} is missing (run `make workers`)."
    return None


def get(provider: Provider) -> ProviderInfo:
    return _providers()[provider]


def all_providers() -> list[ProviderInfo]:
    return list(_providers().values())


def worker_command(provider: Provider) -> list[str]:
    """The command line of the provider's worker, for runtimes that start processes."""
    if provider is Provider.sandbox:
        # The same interpreter as the control plane: the worker ships in the same installation.
        return [sys.executable, "-m", "sandbox_worker"]
    if provider is Provider.whatsmeow:
        return [str(PROVIDERS_DIR / _WHATSMEOW_BIN)]
    if provider is Provider.baileys:
        return [shutil.which("node") or "node", str(PROVIDERS_DIR / _BAILEYS_JS)]
    if provider is Provider.wawebjs:
        return [shutil.which("node") or "node", str(PROVIDERS_DIR / _WAWEBJS_JS)]
    raise ValueError(f"provider {provider} has no worker on this host")


def worker_config(provider: Provider, settings: Settings) -> dict[str, object]:
    """The worker's PROVIDER_CONFIG: provider settings that come from the gateway's configuration."""
    if provider is Provider.sandbox:
        return {"qr_interval_seconds": settings.sandbox_qr_interval_seconds}
    return {}


NOT_BUILT = "Not built yet: this provider arrives in a later release."


def _multi_device(name: Provider, description: str, unavailable_reason: str | None) -> ProviderInfo:
    """An engine that is a linked device of a phone: it can do everything a phone's linked device can."""
    return ProviderInfo(
        name=name,
        description=description,
        message_types=ALL_MESSAGE_TYPES,
        pair_code=True,
        read_receipts=True,
        presence=True,
        contacts_check=True,
        unavailable_reason=unavailable_reason,
    )


@functools.cache
def _providers() -> dict[Provider, ProviderInfo]:
    # Built once per process: availability is a fact about this installation, and it is asked on every send.
    infos = [
        ProviderInfo(
            name=Provider.sandbox,
            description="A simulated WhatsApp network run by the gateway, for development and integration tests.",
            message_types=ALL_MESSAGE_TYPES - {"poll"},  # the simulated network has no polls
            pair_code=True,
            read_receipts=True,
            presence=True,
            contacts_check=True,
            unavailable_reason=_sandbox_reason(),
        ),
        _multi_device(
            Provider.whatsmeow,
            "WhatsApp multi-device protocol through go.mau.fi/whatsmeow (Go worker).",
            _binary_reason(_WHATSMEOW_BIN),
        ),
        _multi_device(
            Provider.baileys,
            "WhatsApp multi-device protocol through Baileys 7 (Node worker).",
            _node_reason(_BAILEYS_JS),
        ),
        _multi_device(
            Provider.wawebjs,
            "WhatsApp Web driven in Chromium through whatsapp-web.js (Node worker).",
            _node_reason(_WAWEBJS_JS),
        ),
        ProviderInfo(
            name=Provider.waba,
            description="The official WhatsApp Business Cloud API (Meta hosts the number; no worker).",
            # The Cloud API cannot send polls, but has reply buttons, lists and templates of its own.
            message_types=(ALL_MESSAGE_TYPES - {"poll"}) | {"interactive", "template"},
            pair_code=False,
            read_receipts=True,
            presence=True,  # the typing indicator, shown against a received message
            contacts_check=False,
            # Runs inside the control plane (whatsapp_gateway.waba): nothing to build.
        ),
    ]
    return {info.name: info for info in infos}
