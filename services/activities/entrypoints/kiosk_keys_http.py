"""HTTP API of kiosk signing (contract v2): an operator registers, lists and retires a kiosk's
public keys, and sets each venue's deadline for unsigned check-ins. No other service needs the
keys: activities is the only verifier, so they are not published as events."""

from __future__ import annotations

import time
from datetime import datetime
from typing import Annotated

from aiokafka.structs import ConsumerRecord
from fastapi import APIRouter, Path, Request, Response, status
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from services.activities.service_layer import kiosk_signing
from shared.http.auth import Operator

router = APIRouter(prefix="/v1")

ID_PATTERN = r"^[A-Za-z0-9_.:-]+$"
Id = Annotated[str, Path(min_length=1, max_length=64, pattern=ID_PATTERN)]
KeyId = Annotated[str, Path(min_length=32, max_length=32, pattern=r"^[0-9a-f]{32}$")]


class KioskKeyIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    public_key: str = Field(
        min_length=40,
        max_length=400,
        description="Ed25519 public key: PEM (`openssl pkey -pubout`) or the base64 of its 32 raw bytes",
    )


class KioskKeyOut(BaseModel):
    key_id: str = Field(description="what the kiosk sends in `ls-key-id`: hex of SHA-256(raw key)[:16]")
    kiosk_id: str
    public_key: str = Field(description="base64 of the 32 raw bytes")
    registered_by: str
    registered_at: datetime
    retired_at: datetime | None


class UnsignedCheckinsIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    accepted_until: AwareDatetime | None = Field(
        description="unsigned check-ins arriving from this time on are refused (bad_signature); null: no deadline"
    )


class UnsignedCheckinsOut(BaseModel):
    venue_id: str
    accepted_until: datetime | None


def http_record(topic: str, resident_id: str, value: bytes, headers: dict[str, str]) -> ConsumerRecord:
    """A check-in refused over HTTP, shaped as the record it would have been, so that it is
    dead-lettered like the Kafka path's (partition and offset -1: it never reached the topic)."""
    key = resident_id.encode()
    return ConsumerRecord(
        topic, -1, -1, int(time.time() * 1000), 0, key, value, None, len(key), len(value),
        [(k, v.encode()) for k, v in headers.items()],
    )  # fmt: skip


def _ctx(request: Request):
    return request.app.state.activities


@router.post("/kiosks/{kiosk_id}/keys", response_model=KioskKeyOut, tags=["kiosks"])
async def register_kiosk_key(
    kiosk_id: Id, body: KioskKeyIn, request: Request, response: Response, operator: Operator
) -> KioskKeyOut:
    """Register a kiosk's public key (201; 200 when it was registered already). A rotation registers
    the new key, moves the kiosk to it, then retires the old one: both verify in between."""
    key, created = await kiosk_signing.register_key(_ctx(request), kiosk_id, body.public_key, operator.subject)
    response.status_code = status.HTTP_201_CREATED if created else status.HTTP_200_OK
    return KioskKeyOut.model_validate(key)


@router.get("/kiosks/{kiosk_id}/keys", response_model=list[KioskKeyOut], tags=["kiosks"])
async def kiosk_keys(kiosk_id: Id, request: Request, operator: Operator) -> list[KioskKeyOut]:
    return [KioskKeyOut.model_validate(k) for k in await kiosk_signing.keys_of(_ctx(request), kiosk_id)]


@router.delete("/kiosks/{kiosk_id}/keys/{key_id}", response_model=KioskKeyOut, tags=["kiosks"])
async def retire_kiosk_key(kiosk_id: Id, key_id: KeyId, request: Request, operator: Operator) -> KioskKeyOut:
    """Retire a key (a rotation's end, a stolen kiosk): check-ins signed with it are refused from now on."""
    return KioskKeyOut.model_validate(await kiosk_signing.retire_key(_ctx(request), kiosk_id, key_id))


@router.put("/venues/{venue_id}/unsigned-checkins", response_model=UnsignedCheckinsOut, tags=["kiosks"])
async def set_unsigned_checkins(
    venue_id: Id, body: UnsignedCheckinsIn, request: Request, operator: Operator
) -> UnsignedCheckinsOut:
    """The venue's migration window: until `accepted_until`, its kiosks without a registered key
    may still send unsigned check-ins."""
    until = await kiosk_signing.set_unsigned_deadline(_ctx(request), venue_id, body.accepted_until, operator.subject)
    return UnsignedCheckinsOut(venue_id=venue_id, accepted_until=until)


@router.get("/venues/{venue_id}/unsigned-checkins", response_model=UnsignedCheckinsOut, tags=["kiosks"])
async def unsigned_checkins(venue_id: Id, request: Request, operator: Operator) -> UnsignedCheckinsOut:
    return UnsignedCheckinsOut(
        venue_id=venue_id, accepted_until=await kiosk_signing.unsigned_deadline(_ctx(request), venue_id)
    )
