"""The sshrace driver protocol (docs/driver-protocol.md) for asyncio drivers.

A driver subclasses `Driver` and implements `run(target, user, command)`, returning
`(exit_status, stdout_bytes, stderr_bytes)` or raising; `serve(driver)` does the rest: it reads
the requests on stdin, runs each in its own task (so they run concurrently), writes one reply
per request on stdout, runs jobs (events, `done`, reply) and stops at `shutdown`. An exception
becomes an error reply whose `cause` is named from the exception (`cause_of`), so sshrace
judges an asyncssh failure as it judges the OpenSSH client's.
"""

import asyncio
import json
import sys
from dataclasses import dataclass

import asyncssh


@dataclass
class Target:
    name: str
    address: str
    port: int
    user: str
    key_file: str
    known_hosts: str


class ConnectFailed(Exception):
    """A failure while connecting (before the connection is authenticated)."""

    def __init__(self, error):
        super().__init__(f"{type(error).__name__}: {error}")
        self.error = error


async def connect(target, user, **options):
    """An asyncssh connection to `target` as `user` with the run's key; failures are
    `ConnectFailed`."""
    try:
        return await asyncssh.connect(
            target.address,
            port=target.port,
            username=user,
            client_keys=[target.key_file],
            known_hosts=None,  # like StrictHostKeyChecking=no: the targets are the run's own
            agent_path=None,
            config=None,
            **options,
        )
    except (OSError, asyncio.TimeoutError, asyncssh.Error) as error:
        raise ConnectFailed(error) from error


class SessionLost(ConnectionError):
    """A session that ended without an exit status (its connection died under it)."""


def completed(result):
    """`(exit_status, stdout_bytes, stderr_bytes)` of an asyncssh `run(..., encoding=None)`."""
    if result.exit_status is None:
        raise SessionLost(f"session ended without an exit status ({result.exit_signal})")
    return result.exit_status, len(result.stdout or b""), len(result.stderr or b"")


def cause_of(error):
    """The sshrace cause (an OpenSSH client's exit-255 reason) of an exception, or None."""
    if isinstance(error, ConnectFailed):
        error = error.error
        if isinstance(error, ConnectionRefusedError):
            return "connection-refused"
        if isinstance(error, (asyncio.TimeoutError, TimeoutError)):
            return "connect-timeout"
        if isinstance(error, asyncssh.PermissionDenied):
            return "auth-failed"
        # sshd closed it before or during the handshake: MaxStartups drops it before the banner.
        return "closed-before-banner"
    if isinstance(error, asyncssh.ChannelOpenError):
        # asyncssh refuses a channel on a connection it knows is closed with this reason.
        if "closed" in error.reason.lower():
            return "connection-closed"
        return "channel-refused"
    if isinstance(error, (asyncssh.ConnectionLost, asyncssh.DisconnectError, OSError)):
        return "connection-lost"
    if isinstance(error, (asyncio.TimeoutError, TimeoutError)):
        return "keepalive-timeout"
    return None


class Driver:
    """What a driver implements. `hello` is the parsed hello (targets, time_scale)."""

    def __init__(self):
        self.targets = {}
        self.time_scale = 1.0

    def hello(self, message):
        self.time_scale = message.get("time_scale", 1.0)
        for t in message["targets"]:
            self.targets[t["name"]] = Target(
                t["name"], t["address"], t["port"], t["user"], t["key_file"], t["known_hosts"]
            )

    def scaled(self, seconds):
        """Scenario seconds in real seconds."""
        return seconds * self.time_scale

    async def run(self, target, user, command):
        raise NotImplementedError

    async def job(self, request):
        """A multi-step job: by default each host's steps in order, failures propagated."""
        await run_job(self, request)

    async def refresh(self, host):
        """The timeline refreshes `host` (recycle its connections, if you keep any)."""

    async def close(self):
        """The run is over: close every connection."""


def send(message):
    sys.stdout.write(json.dumps(message) + "\n")
    sys.stdout.flush()


def error_reply(request_id, error, **extra):
    reply = {"type": "reply", "id": request_id, "error": f"{type(error).__name__}: {error}"}
    cause = cause_of(error)
    if cause:
        reply["cause"] = cause
    return {**reply, **extra}


async def run_one(driver, request):
    try:
        target = driver.targets[request["host"]]
        status, out, err = await driver.run(target, request["user"], request["command"])
        send({"type": "reply", "id": request["id"], "exit_status": status,
              "stdout_bytes": out, "stderr_bytes": err})
    except asyncio.CancelledError:
        raise
    except Exception as error:  # every failure is a reply
        send(error_reply(request["id"], error))


async def run_job(driver, request):
    """Each host's steps in order, hosts in parallel; results narrated before `done`."""
    job = request["id"]
    hosts = list(dict.fromkeys(step["host"] for step in request["steps"]))

    async def host_steps(host):
        for step in (s for s in request["steps"] if s["host"] == host):
            send({"type": "event", "id": job, "text": f"{host}: {step['name']} started"})
            status, _, _ = await driver.run(driver.targets[host], step["user"], step["command"])
            if status != 0:
                return {"exit_status": status}
        return None

    results = await asyncio.gather(*(host_steps(h) for h in hosts), return_exceptions=True)
    failure = None
    for host, result in zip(hosts, results):
        if isinstance(result, BaseException):
            send({"type": "event", "id": job, "text": f"{host}: failed: {result}"})
            failure = failure or error_reply(job, result, success=False)
        elif result:
            send({"type": "event", "id": job, "text": f"{host}: failed: exit {result['exit_status']}"})
            failure = failure or {"type": "reply", "id": job, "success": False, **result}
        else:
            send({"type": "event", "id": job, "text": f"{host}: ok"})
    send({"type": "done", "id": job})
    send(failure or {"type": "reply", "id": job, "success": True})


async def serve(driver):
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader(limit=1 << 20)
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    tasks = {}
    while line := await reader.readline():
        message = json.loads(line)
        kind = message["type"]
        if kind == "hello":
            driver.hello(message)
        elif kind in ("run", "job"):
            work = run_one(driver, message) if kind == "run" else driver.job(message)
            task = asyncio.create_task(work)
            tasks[message["id"]] = task
            task.add_done_callback(lambda _, i=message["id"]: tasks.pop(i, None))
        elif kind == "cancel" and message["id"] in tasks:
            tasks[message["id"]].cancel()
        elif kind == "refresh":
            await driver.refresh(message["host"])
        elif kind == "shutdown":
            break
        # control and master: these drivers keep no control plane and no ControlMaster.
    for task in list(tasks.values()):
        task.cancel()
    await driver.close()


def main(driver):
    asyncio.run(serve(driver))
