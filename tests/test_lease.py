"""Two servers on one workdir (named servers, a jupyter lab on a login node): one leads."""

from __future__ import annotations

import json

import requests
from live import LiveServer, final_status, job, record, submit, wait_until
from test_lifecycle import alive, launcher_pid

CONFIG = "parallelprocesses = 2\n[processing]\npoll_interval = 0.3\n"


def lease_holder(server: LiveServer) -> str:
    return json.loads((server.workdir / ".jupyter-wps-lease").read_text())["holder"]


def test_one_server_leads_the_other_follows_then_takes_over(tmp_path):
    leader = LiveServer(tmp_path / "a", CONFIG).start()
    follower = LiveServer(tmp_path / "b", CONFIG)
    follower.workdir = leader.workdir
    follower.config_file.write_text(leader.config_file.read_text())
    follower.start()
    try:
        holder = lease_holder(leader)
        assert holder.split(":")[1] == str(leader.process.pid)

        # jobs submitted through either server are run once, by the leader
        jobs = [submit(leader, "say_hello", "name=a"), submit(follower, "say_hello", "name=b")]
        for job_id in jobs:
            assert final_status(follower, job_id)["status"] == "successful"
            assert final_status(leader, job_id)["status"] == "successful"
            assert record(leader, job_id)["submitted_by"] == holder

        # a synchronous execute through the follower waits for the leader to run it
        reply = requests.get(
            follower.wps_url,
            headers=follower.headers,
            timeout=60,
            params={
                "service": "WPS",
                "version": "1.0.0",
                "request": "Execute",
                "identifier": "say_hello",
                "DataInputs": "name=sync",
            },
        )
        assert b"Hello sync" in reply.content

        # the follower can cancel a job the leader runs
        running = submit(follower, "sleep", "seconds=30")
        pid = launcher_pid(leader, running)
        wait_until(lambda: job(follower, running)["status"] == "running")
        deleted = requests.delete(
            f"{follower.wps_url}/api/jobs/{running}", headers=follower.headers, timeout=10
        )
        assert deleted.status_code == 200
        wait_until(lambda: not alive(pid), 10)
        assert final_status(leader, running)["status"] == "dismissed"

        # the leader goes away with jobs queued: the follower takes over and runs them
        long_jobs = [submit(leader, "sleep", "seconds=4") for _ in range(4)]
        leader.stop(kill=True)
        for job_id in long_jobs:
            assert final_status(follower, job_id, timeout=90)["status"] == "successful"
        assert lease_holder(follower).split(":")[1] == str(follower.process.pid)
    finally:
        follower.stop()
        leader.stop()
