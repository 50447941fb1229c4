"""cached.py: an sshrace driver that caches one asyncssh connection per host and user.

Incident 001's fix, which still fails: every call opens a session on the one connection, with
no limit, so a burst of more than sshd's MaxSessions (10) gets `open failed` on the 11th
channel; the first parallel calls each connect (nothing is cached yet); and nothing checks that
the cached connection is still alive.

    sshrace run max-sessions-one-master --backend docker \\
        --client-cmd "python3 examples/drivers/python/cached.py"
"""

import driver_protocol as dp


class Cached(dp.Driver):
    def __init__(self):
        super().__init__()
        self.connections = {}

    async def run(self, target, user, command):
        key = (target.name, user)
        conn = self.connections.get(key)
        if conn is None:
            conn = await dp.connect(target, user)
            # Parallel first calls each connected; the first to finish is the one kept.
            conn = self.connections.setdefault(key, conn)
        return dp.completed(await conn.run(command, encoding=None))

    async def close(self):
        for conn in self.connections.values():
            conn.close()


if __name__ == "__main__":
    dp.main(Cached())
