"""The dependencies that authenticate every `/api` request."""

from __future__ import annotations

import datetime as dt
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from whatsapp_gateway.api_key import service as api_key_service
from whatsapp_gateway.api_key.principal import Principal
from whatsapp_gateway.deps import SessionDep, SettingsDep
from whatsapp_gateway.errors import Forbidden, Unauthorized

_bearer = HTTPBearer(
    auto_error=False,
    description="A tenant key (`wagw_…`) or the operator's key (`API_SECRET`).",
)


async def authenticate(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Principal:
    if credentials is None or not credentials.credentials:
        raise Unauthorized("Send `Authorization: Bearer <key>`.", headers={"WWW-Authenticate": 'Bearer realm="api"'})
    principal = await api_key_service.authenticate(
        session,
        credentials.credentials,
        operator_key_hash=request.app.state.operator_key_hash,
        touch_interval=dt.timedelta(seconds=settings.api_key_touch_interval_seconds),
    )
    request.state.principal = principal
    return principal


async def require_operator(principal: Annotated[Principal, Depends(authenticate)]) -> Principal:
    if not principal.is_operator:
        raise Forbidden("This route needs the operator's key.")
    return principal


AuthenticatedPrincipal = Annotated[Principal, Depends(authenticate)]
OperatorPrincipal = Annotated[Principal, Depends(require_operator)]
