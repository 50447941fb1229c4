"""pooled.py: an sshrace driver with a bounded pool of asyncssh connections per host and user.

At most POOL_CONNECTIONS connections (4, so at most 4 handshakes in flight: well under
MaxStartups' 10), each with at most POOL_SESSIONS sessions (8, below sshd's MaxSessions of 10);
a call waits for a free session. Keepalives (15 scenario seconds, 3 missed) close a dead
connection, and a closed one leaves the pool. A call that never started (the connect failed, the
channel was refused, the connection was already closed) is retried with capped, jittered
exponential backoff.

    sshrace run flood-fresh-connections --backend docker \\
        --client-cmd "python3 examples/drivers/python/pooled.py"
"""

import asyncio
import os
import random

import asyncssh

import driver_protocol as dp

MAX_CONNECTIONS = int(os.environ.get("POOL_CONNECTIONS", "4"))
MAX_SESSIONS = int(os.environ.get("POOL_SESSIONS", "8"))
ATTEMPTS = 5


class HostPool:
    def __init__(self, driver, target, user):
        self.driver, self.target, self.user = driver, target, user
        self.entries = []  # [connection, sessions in use]
        self.connecting = 0
        self.changed = asyncio.Condition()

    async def checkout(self):
        async with self.changed:
            while True:
                self.entries = [e for e in self.entries if not e[0].is_closed()]
                free = [e for e in self.entries if e[1] < MAX_SESSIONS]
                if free:
                    entry = min(free, key=lambda e: e[1])
                    entry[1] += 1
                    return entry
                if len(self.entries) + self.connecting < MAX_CONNECTIONS:
                    self.connecting += 1
                    break
                await self.changed.wait()
        try:
            conn = await dp.connect(
                self.target,
                self.user,
                keepalive_interval=self.driver.scaled(15),
                keepalive_count_max=3,
                connect_timeout=self.driver.scaled(10),
            )
        finally:
            async with self.changed:
                self.connecting -= 1
                self.changed.notify_all()
        entry = [conn, 1]
        async with self.changed:
            self.entries.append(entry)
        return entry

    async def checkin(self, entry):
        async with self.changed:
            entry[1] -= 1
            self.changed.notify_all()


def never_started(error):
    return isinstance(error, (dp.ConnectFailed, asyncssh.ChannelOpenError))


class Pooled(dp.Driver):
    def __init__(self):
        super().__init__()
        self.pools = {}

    async def run(self, target, user, command):
        pool = self.pools.setdefault((target.name, user), HostPool(self, target, user))
        for attempt in range(ATTEMPTS):
            try:
                entry = await pool.checkout()
                try:
                    return dp.completed(await entry[0].run(command, encoding=None))
                finally:
                    await pool.checkin(entry)
            except Exception as error:
                if attempt + 1 == ATTEMPTS or not never_started(error):
                    raise
                backoff = min(self.scaled(8), self.scaled(0.5) * 2**attempt)
                await asyncio.sleep(random.uniform(0, backoff))
        raise AssertionError("unreachable")

    async def close(self):
        for pool in self.pools.values():
            for conn, _ in pool.entries:
                conn.close()


if __name__ == "__main__":
    dp.main(Pooled())
