"""The warm launcher pool's protocol, read by the server: starts and exits matched in order."""

from __future__ import annotations

import asyncio
import os
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from live import LiveServer, execute, final_status, state_of, submit

from jupyter_wps.backends.local import LauncherPool
from jupyter_wps.jobs.proc import process_start_time


class FakePool:
    """What LauncherPool reads: a pool process whose stdout the test writes."""

    def __init__(self, text: str, ended: bool = True) -> None:
        self.stdout = asyncio.StreamReader()
        self.stdout.feed_data(text.encode())
        if ended:
            self.stdout.feed_eof()


async def read(pool: LauncherPool, text: str) -> None:
    await pool._read(FakePool(text))  # type: ignore[arg-type]


def test_an_exit_read_with_its_start_is_not_lost():
    """A launcher that ends before the server reads its start still reports its exit:
    before, the exit was dropped and the job stayed "running" with its slot taken."""

    async def main():
        pool = LauncherPool([])
        exits: list[int] = []
        answer = asyncio.get_running_loop().create_future()
        pool._pending.append((answer, exits.append))
        # both lines in one read: nothing else runs between them
        await read(pool, "started 4242 99\nexited 4242 3\n")
        return await answer, exits, pool.children()

    (pid, start), exits, children = asyncio.run(main())
    assert (pid, start) == (4242, "99") and exits == [3] and children == []


def test_running_children_and_a_dead_pool():
    async def main():
        pool = LauncherPool([])
        loop = asyncio.get_running_loop()
        first, second = loop.create_future(), loop.create_future()
        pool._pending.extend([(first, lambda code: None), (second, lambda code: None)])
        reader = FakePool("started 1 10\nerror cannot fork\n", ended=False)
        task = asyncio.ensure_future(pool._read(reader))  # type: ignore[arg-type]
        assert await first == (1, "10")
        assert pool.children() == ["1:10"]
        reader.stdout.feed_eof()  # the pool died: its children are watched through /proc
        await task
        failed = second.exception()
        return failed, pool.children()

    failed, children = asyncio.run(main())
    assert isinstance(failed, OSError) and "cannot fork" in str(failed) and children == []


def test_the_pool_reports_a_start_time_even_for_a_finished_child(tmp_path: Path):
    """The real pool: a launcher that fails at once is reported with its start time."""

    async def main():
        pool = LauncherPool([])
        exited = asyncio.Event()
        codes: list[int] = []

        def on_exit(code: int) -> None:
            codes.append(code)
            exited.set()

        try:
            pid, start = await pool.launch(tmp_path, dict(os.environ), on_exit)
            await asyncio.wait_for(exited.wait(), 30)
        finally:
            await pool.close()
        return pid, start, codes

    pid, start, codes = asyncio.run(main())
    assert start.isdigit() and codes == [2]  # no job record: the launcher exits with 2
    assert process_start_time(pid) is None  # reaped by the pool
    assert "no job record" in (tmp_path / "launcher.log").read_text()


def say_hello_sync(server: LiveServer, i: int):
    return execute(server, "say_hello", f"name=n{i}", sync=True)


def test_quick_jobs_never_leave_a_slot_taken(tmp_path: Path):
    """Many sync jobs that end at once, two slots: a lost exit would keep a slot (and its
    job "running") forever, and the server would stop starting jobs."""
    server = LiveServer(tmp_path, "parallelprocesses = 2\n").start()
    try:
        with ThreadPoolExecutor(8) as clients:  # as a benchmark's clients send them
            docs = list(clients.map(lambda i: say_hello_sync(server, i), range(200)))
        assert {state_of(doc) for doc in docs} == {"ProcessSucceeded"}
        jobs = [submit(server, "say_hello", f"name=a{i}") for i in range(50)]
        for job_id in jobs:
            assert final_status(server, job_id, timeout=60)["status"] == "successful"
    finally:
        server.stop()
