from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

Token = Annotated[str, Field(min_length=1, max_length=4096, pattern=r"^\S+$")]


class WabaConfig(BaseModel):
    """How the gateway reaches a Cloud API number. Secrets are encrypted at rest and never returned by the API."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "phone_number_id": "106540352242922",
                    "access_token": "EAAG…",
                    "app_secret": "0f1e…",
                    "verify_token": "a-long-random-string",
                    "waba_id": "102290129340398",
                }
            ]
        },
    )

    phone_number_id: Annotated[str, Field(min_length=1, max_length=32, pattern=r"^[0-9]+$")]
    access_token: Token = Field(description="A system-user or business access token.")
    app_secret: Token = Field(description="The Meta app's secret: webhooks are verified with it.")
    verify_token: Token = Field(description="Your string for the webhook subscription handshake (`hub.verify_token`).")
    waba_id: Annotated[str, Field(min_length=1, max_length=32, pattern=r"^[0-9]+$")] | None = None
    api_version: Annotated[str, Field(pattern=r"^v\d{1,3}\.\d{1,2}$")] | None = Field(
        None, description="Graph API version, e.g. `v26.0`; defaults to the gateway's `WABA_API_VERSION`."
    )
