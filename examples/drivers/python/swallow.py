"""swallow.py: an sshrace driver whose jobs swallow a step's SSH failure, as incident 003's
remote installer did.

Each host's steps run in a spawned task nobody checks: once the tasks are over the job sends
DONE, only then logs a failed task's error (an event after DONE, which the UI never shows),
and reports success. Commands run on fresh connections.

    sshrace run swallowed-install-error --backend docker \\
        --client-cmd "python3 examples/drivers/python/swallow.py"
"""

import asyncio

import driver_protocol as dp
from fresh import Fresh


class Swallow(Fresh):
    async def job(self, request):
        job = request["id"]
        hosts = list(dict.fromkeys(step["host"] for step in request["steps"]))

        async def host_steps(host):
            for step in (s for s in request["steps"] if s["host"] == host):
                dp.send({"type": "event", "id": job, "text": f"{host}: {step['name']}"})
                status, _, _ = await self.run(self.targets[host], step["user"], step["command"])
                if status != 0:
                    return f"{step['name']} ended with exit status {status}"
            return None

        spawned = [asyncio.create_task(host_steps(h)) for h in hosts]
        await asyncio.wait(spawned)  # waits, but never looks at how they ended
        dp.send({"type": "done", "id": job})
        for host, task in zip(hosts, spawned):
            problem = task.exception() or task.result()
            if problem:  # logged after DONE: lost
                dp.send({"type": "event", "id": job, "text": f"{host}: {problem}"})
        dp.send({"type": "reply", "id": job, "success": True})


if __name__ == "__main__":
    dp.main(Swallow())
