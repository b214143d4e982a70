"""Liveness and readiness probes for orchestrators and load balancers. No auth: they reveal nothing."""

from __future__ import annotations

from fastapi import APIRouter, Request
from pydantic import BaseModel
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

from whatsapp_gateway.errors import ServiceUnavailable, problem_responses

router = APIRouter(tags=["health"])


class Health(BaseModel):
    status: str


class DatabaseUnavailable(ServiceUnavailable):
    code, title = "database_unavailable", "The database cannot be reached"


@router.get("/healthz", response_model=Health)
async def healthz() -> Health:
    """The process is up and serving HTTP."""
    return Health(status="ok")


@router.get("/readyz", response_model=Health, responses=problem_responses(503))
async def readyz(request: Request) -> Health:
    """The gateway can serve requests: its database answers."""
    try:
        async with request.app.state.engine.connect() as connection:
            await connection.execute(text("SELECT 1"))
    except (SQLAlchemyError, OSError) as exc:
        raise DatabaseUnavailable(type(exc).__name__) from exc
    return Health(status="ready")
