"""Per-key rate limits on job submissions, counted in Redis so that every API process shares one budget.

A fixed window per caller: the first submission opens a window of ``WINDOW_SECONDS`` (a counter key created
with that TTL), each submission increments it, and past the limit the caller gets 429 with ``Retry-After``
set to the seconds left in the window. One small key per active caller, two round trips' worth of work in
one transaction; the price of fixed windows is that a caller may send up to twice the limit across a window
boundary. Only submissions count: they are what costs device time and memory, while status polls are cheap
reads that well-behaved clients make often.
"""

from __future__ import annotations

from redis import Redis

from jobs.store import PREFIX
from service.errors import TooManyRequestsError

WINDOW_SECONDS = 60


def rate_limit_key(principal: str) -> str:
    return f"{PREFIX}:ratelimit:{principal}"


class RateLimiter:
    """``per_minute`` submissions per caller (0: unlimited); a caller is an API key's digest, or everyone
    together (``anonymous``) while keys are off."""

    def __init__(self, redis: Redis, per_minute: int) -> None:
        self.redis = redis
        self.per_minute = per_minute

    def check(self, principal: str) -> None:
        """Count one submission by ``principal``; raise ``TooManyRequestsError`` if it is over the limit."""
        if not self.per_minute:
            return
        key = rate_limit_key(principal)
        with self.redis.pipeline() as pipe:  # MULTI: the window opens and counts atomically
            pipe.set(key, 0, ex=WINDOW_SECONDS, nx=True)  # SET NX EX, not EXPIRE NX: any Redis version
            pipe.incr(key)  # keeps the TTL
            pipe.ttl(key)
            _, count, ttl = pipe.execute()
        if count > self.per_minute:
            wait = max(int(ttl), 1)
            raise TooManyRequestsError(
                f"rate limit exceeded: at most {self.per_minute} submissions per minute per API key; "
                f"try again in {wait} s",
                headers={"Retry-After": str(wait)},
            )
