"""fresh.py: an sshrace driver that opens a fresh asyncssh connection for every call.

Incident 001's service before its fix: parallel tool calls, a connection each. A burst of
them is a flood of handshakes, and sshd's MaxStartups drops some before the banner.

    sshrace run flood-fresh-connections --backend docker \\
        --client-cmd "python3 examples/drivers/python/fresh.py"
"""

import driver_protocol as dp


class Fresh(dp.Driver):
    async def run(self, target, user, command):
        async with await dp.connect(target, user) as conn:
            return dp.completed(await conn.run(command, encoding=None))


if __name__ == "__main__":
    dp.main(Fresh())
