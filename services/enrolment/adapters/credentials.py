"""SQL of the verifiable honours (migration 0006_credentials.sql): signing keys, issued
credentials, and the revoked positions of a status list."""

from __future__ import annotations

import json
from typing import Any

import asyncpg

from shared import credentials as vc

KEYS_LOCK = 0x9A55_0003  # two instances starting at once create one key, not two


async def _decryptable(conn: asyncpg.Connection, passphrase: bytes) -> bool:
    newest = await conn.fetchval("SELECT private_pem FROM credential_keys ORDER BY created_at DESC, kid LIMIT 1")
    if newest is None:
        return False
    try:
        vc.load_signing_key(newest, passphrase)
    except (ValueError, TypeError):
        return False
    return True


async def add_key(conn: asyncpg.Connection, passphrase: bytes) -> str:
    key = vc.new_signing_key()
    await conn.execute(
        "INSERT INTO credential_keys(kid, public_jwk, private_pem) VALUES ($1, $2::jsonb, $3)",
        key.kid, json.dumps(key.public_jwk), vc.private_pem(key, passphrase),
    )  # fmt: skip
    return key.kid


async def ensure_key(conn: asyncpg.Connection, passphrase: bytes) -> str | None:
    """A signing key the service can use: none yet (first start), or the newest one sealed with
    another passphrase (the secret it derives from was changed), adds one. The kid added, if any."""
    async with conn.transaction():
        await conn.execute("SELECT pg_advisory_xact_lock($1)", KEYS_LOCK)
        if await _decryptable(conn, passphrase):
            return None
        return await add_key(conn, passphrase)


async def signing_key_pem(conn: asyncpg.Connection) -> tuple[str, str] | None:
    row = await conn.fetchrow("SELECT kid, private_pem FROM credential_keys ORDER BY created_at DESC, kid LIMIT 1")
    return (row["kid"], row["private_pem"]) if row else None


async def public_keys(conn: asyncpg.Connection) -> list[dict[str, Any]]:
    rows = await conn.fetch("SELECT public_jwk FROM credential_keys ORDER BY created_at DESC, kid")
    return [json.loads(r["public_jwk"]) if isinstance(r["public_jwk"], str) else dict(r["public_jwk"]) for r in rows]


async def honour_of(conn: asyncpg.Connection, honour_id: str, resident_id: str) -> asyncpg.Record | None:
    """The honour as the resident's passport shows it (None: not theirs, or only revoked so far)."""
    return await conn.fetchrow(
        """SELECT honour_id, kind, period, recipient_kind, awarded_at, revoked, revoke_reason
           FROM passport_honours WHERE honour_id = $1 AND resident_ids @> ARRAY[$2]::text[] AND kind <> ''""",
        honour_id, resident_id,
    )  # fmt: skip


async def issued(conn: asyncpg.Connection, honour_id: str, resident_id: str) -> str | None:
    return await conn.fetchval(
        "SELECT token FROM issued_credentials WHERE honour_id = $1 AND resident_id = $2", honour_id, resident_id
    )


async def next_issue_number(conn: asyncpg.Connection) -> int:
    return await conn.fetchval("SELECT nextval('credential_issue_seq')")


async def store_issued(conn: asyncpg.Connection, row: dict[str, Any]) -> str:
    """Keeps the first credential of an honour and resident: a concurrent first download that
    lost the race returns the winner's (its own status position stays unused)."""
    await conn.execute(
        """INSERT INTO issued_credentials(honour_id, resident_id, credential_id, status_list, status_index, kid,
               issued_at, token)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT (honour_id, resident_id) DO NOTHING""",
        row["honour_id"], row["resident_id"], row["credential_id"], row["status_list"], row["status_index"],
        row["kid"], row["issued_at"], row["token"],
    )  # fmt: skip
    return await issued(conn, row["honour_id"], row["resident_id"])


async def status_list_used(conn: asyncpg.Connection, list_id: str) -> bool:
    return bool(
        await conn.fetchval(
            """SELECT EXISTS (SELECT 1 FROM issued_credentials WHERE status_list = $1)
                   OR EXISTS (SELECT 1 FROM withdrawn_credential_bits WHERE status_list = $1)""",
            list_id,
        )
    )


async def revoked_indexes(conn: asyncpg.Connection, list_id: str) -> list[int]:
    """Credentials of revoked honours, and those of erased residents (withdrawn on erasure)."""
    rows = await conn.fetch(
        """SELECT c.status_index FROM issued_credentials c
           JOIN passport_honours h ON h.honour_id = c.honour_id
           WHERE c.status_list = $1 AND h.revoked
           UNION
           SELECT status_index FROM withdrawn_credential_bits WHERE status_list = $1""",
        list_id,
    )
    return [r["status_index"] for r in rows]
