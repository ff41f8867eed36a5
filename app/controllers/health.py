"""Health probes for orchestrators: no credentials, no user data."""

from __future__ import annotations

from typing import Literal

from apiflask import APIBlueprint
from pydantic import BaseModel

from app.controllers.access import ANONYMOUS, access
from app.helpers.state import current_state

bp = APIBlueprint("health", __name__, url_prefix="/api/health", tag="Health")


class Health(BaseModel):
    """A probe's answer."""

    status: Literal["live", "ready"]


@bp.get("/live")
@bp.output(Health)
@access(ANONYMOUS)
def live() -> Health:
    """200 while the process serves requests."""
    return Health(status="live")


@bp.get("/ready")
@bp.output(Health)
@access(ANONYMOUS)
def ready() -> Health:
    """200 when DynamoDB answers (checked at most every few seconds), else 503 with why."""
    state = current_state()
    state.readiness.check(now=state.now())
    return Health(status="ready")
