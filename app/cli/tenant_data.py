"""Operator command for GDPR requests: export or delete one tenant's data.

python -m app.cli.tenant_data export <tenant id or clientKey>  > tenant.json
python -m app.cli.tenant_data delete <tenant id or clientKey>
"""

from __future__ import annotations

import asyncio
import json
import logging
import sys

from sqlalchemy import or_, select

from app.cli.commands import run_command
from app.config import DatabaseSettings
from app.db import create_engine, create_sessionmaker
from app.models import Tenant
from app.tenants.repository import delete_tenant_data, export_tenant_data


async def run(action: str, key: str) -> int:
    engine = create_engine(DatabaseSettings().database_url)
    try:
        async with create_sessionmaker(engine)() as session:
            tenant_id = await session.scalar(
                select(Tenant.id).where(
                    or_(Tenant.id == key, Tenant.client_key == key, Tenant.cloud_id == key)
                )
            )
            if tenant_id is None:
                print(f"no tenant {key!r}", file=sys.stderr)
                return 1
            if action == "export":
                print(json.dumps(await export_tenant_data(session, tenant_id), indent=2))
            else:
                await delete_tenant_data(session, tenant_id)
                await session.commit()
                print(f"deleted tenant {tenant_id} and all its data", file=sys.stderr)
            return 0
    finally:
        await engine.dispose()


def main(argv: list[str]) -> int:
    if len(argv) != 2 or argv[0] not in ("export", "delete"):
        print(__doc__, file=sys.stderr)
        return 2
    logging.basicConfig(format="%(levelname)s %(message)s")
    return run_command(lambda: asyncio.run(run(argv[0], argv[1])), doing=argv[0])


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
