"""Sliding-window limits on failed logins, per client address and per username and address.

The windows are in memory or in Redis (``bot.limits``); with Redis every worker shares them.
"""

from __future__ import annotations

import math

from bot.limits import Window
from core.errors import TooManyRequests


class LoginLimiter:
    """Login limits an attacker cannot turn against staff.

    Only failed attempts count, per client address (password spraying) and per username *and*
    address: somebody guessing alice's password from one address locks only that address out
    of alice's account, never alice signing in from her own. A right password clears its
    username-and-address count. Refused attempts are not counted.
    """

    def __init__(self, per_ip: Window, per_account: Window) -> None:
        self.per_ip = per_ip
        self.per_account = per_account

    async def check(self, ip: str, username: str) -> None:
        """Raise ``TooManyRequests`` while either limit is spent."""
        wait = max(await self.per_ip.retry_after(ip),
                   await self.per_account.retry_after(_account_key(username, ip)))
        if wait > 0:
            raise TooManyRequests("too many failed sign-ins; try again later", math.ceil(wait))

    async def failed(self, ip: str, username: str) -> None:
        """Count one wrong password from ``ip`` for ``username``."""
        await self.per_ip.record(ip)
        await self.per_account.record(_account_key(username, ip))

    async def succeeded(self, ip: str, username: str) -> None:
        """A right password clears that username's count from that address."""
        await self.per_account.reset(_account_key(username, ip))


def _account_key(username: str, ip: str) -> str:
    # The same folding as the user store, so "Alice" and "alice " share one budget.
    return f"{username.strip().lower()[:64]}|{ip}"
