"""Does a dashboard of 100 live jobs keep a kernel responsive?

    python benchmarks/widgets.py                  # ~5 minutes, writes its section of results.md
    python benchmarks/widgets.py --rounds 1 --no-write          # a quick look
    python benchmarks/widgets.py --in-process --no-write        # no kernel (comm is a no-op)
    python benchmarks/widgets.py --profile /tmp/monitor.prof --rounds 1 --no-write

Starts ``python -m jupyter_server`` with the extension as ``run.py`` does
(``parallelprocesses`` high enough for every job at once) and a real IPython kernel
(jupyter_client, no front end: its widget messages are serialized and published on
IOPub like any kernel's, nobody reads them). In the kernel, each round submits
``--jobs`` async ``sleep`` jobs with the notebook client and, once they run, measures the
kernel's main thread (where cell code runs) for ``--window`` seconds without a widget
(baseline) and then for as long with ``JobsDashboard(client, jobs=jobs)`` watching them:

- the monitor thread's CPU per second (``/proc/self/task/<tid>/stat``) and that of all
  the kernel's threads but the main one (IOPub's included);
- the main thread's responsiveness: how much a ``time.sleep(0.005)`` oversleeps
  (p50/p95/max), and how many calls of a fixed pure-Python function it completes per
  second, in alternating 0.5 s slices;
- the HTTP requests the kernel sends per second, the widget messages it sends per second,
  and the server process's CPU per second.

Rounds alternate the two ways the kernel follows a job: ``file`` (it reads the jobs'
status files, the default when the kernel sees the server's workdir) and ``http``
(``jupyter_wps.client.job._visible_directory`` patched to say it cannot: HTTP polling,
as with a remote server). Per-round ratios dashboard / baseline; medians over rounds.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
import run as bench  # noqa: E402 - the server and the machine description of run.py

RESULTS = HERE / "results.md"
BEGIN, END = "<!-- widgets.py: begin -->", "<!-- widgets.py: end -->"
RESULT_MARK = "@@widgets-result@@ "
MODES = ("file", "http")
#: the main thread's probes alternate in slices this long (seconds)
SLICE = 0.5
SLEEP = 0.005
CLK_TCK = os.sysconf("SC_CLK_TCK")


# ---------------------------------------------------------------------- in the kernel


def thread_cpu(native_id: int) -> float:
    """User + system CPU seconds of one thread of this process (10 ms ticks)."""
    try:
        stat = Path(f"/proc/self/task/{native_id}/stat").read_text()
    except OSError:
        return 0.0
    fields = stat[stat.rindex(")") + 2 :].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def monitor_thread() -> threading.Thread | None:
    return next((t for t in threading.enumerate() if t.name == "jupyter-wps-monitor"), None)


def work() -> int:
    """A fixed piece of pure-Python work (about a millisecond)."""
    total = 0
    for i in range(8000):
        total += i * i % 7
    return total


class Counter:
    """HTTP requests this process sends (all its requests.Session.send calls)."""

    def __init__(self) -> None:
        import requests

        self.count = 0
        self._send = requests.Session.send
        counter = self

        def send(session, request, **kwargs):
            counter.count += 1
            return counter._send(session, request, **kwargs)

        requests.Session.send = send

    def close(self) -> None:
        import requests

        requests.Session.send = self._send


def slices(seconds: float, overshoots: list[float]) -> tuple[int, float]:
    """A ``seconds`` slice of the main thread's probes: half of it sleeping
    (overshoots appended), half calling work(); the calls made and the time they took."""
    end = time.perf_counter() + seconds / 2
    while time.perf_counter() < end:
        t0 = time.perf_counter()
        time.sleep(SLEEP)
        overshoots.append(time.perf_counter() - t0 - SLEEP)
    calls, began = 0, time.perf_counter()
    end = began + seconds / 2
    while time.perf_counter() < end:
        work()
        calls += 1
    return calls, time.perf_counter() - began


class Probe:
    """The main thread's probes in phases of ``2 * SLICE`` s; in a "paused" phase the main
    thread holds the monitor's lock, so the monitor thread stops at its next task."""

    def __init__(self) -> None:
        self.overshoots: dict[str, list[float]] = {"live": [], "paused": []}
        self.calls = {"live": 0, "paused": 0}
        self.work_seconds = {"live": 0.0, "paused": 0.0}
        self.seconds = {"live": 0.0, "paused": 0.0}

    def phase(self, kind: str, lock=None) -> None:
        began = time.perf_counter()
        with lock if lock is not None else contextlib.nullcontext():
            calls, seconds = slices(2 * SLICE, self.overshoots[kind])
        self.calls[kind] += calls
        self.work_seconds[kind] += seconds
        self.seconds[kind] += time.perf_counter() - began

    def stats(self, kind: str) -> dict:
        return {
            "overshoots": self.overshoots[kind],
            "work_per_s": self.calls[kind] / self.work_seconds[kind]
            if self.work_seconds[kind]
            else 0.0,
        }


def probe(seconds: float, server_pid: int, requests: Counter, sent: list[int], pause=None) -> dict:
    """The main thread's sleep overshoots and work throughput over ``seconds`` and the
    CPU, requests and widget messages of the rest meanwhile. With ``pause`` (the
    monitor's lock), phases alternate live and paused; rates are per live second."""
    monitor = monitor_thread()
    monitor_before = thread_cpu(monitor.native_id) if monitor else 0.0
    server_before = bench.tree_cpu(server_pid, 0).front
    requests_before, sent_before = requests.count, sent[0]
    process_before, main_before = time.process_time(), time.thread_time()
    probes = Probe()
    began = time.perf_counter()
    k = 0
    while time.perf_counter() - began < seconds:
        if pause is not None and k % 4 in (1, 2):  # live, paused, paused, live, ...
            probes.phase("paused", pause)
        else:
            probes.phase("live")
        k += 1
    elapsed = time.perf_counter() - began
    live = probes.seconds["live"]
    others = (time.process_time() - process_before) - (time.thread_time() - main_before)
    same_monitor = monitor is not None and monitor is monitor_thread()
    return {
        "seconds": elapsed,
        "live_seconds": live,
        **probes.stats("live"),
        "paused": probes.stats("paused") if pause is not None else None,
        "monitor_cpu_per_s": (thread_cpu(monitor.native_id) - monitor_before) / live
        if same_monitor
        else None,
        "other_threads_cpu_per_s": others / live,
        "server_cpu_per_s": (bench.tree_cpu(server_pid, 0).front - server_before) / live,
        "requests_per_s": (requests.count - requests_before) / live,
        "messages_per_s": (sent[0] - sent_before) / live,
    }


def running(client) -> int:
    return sum(1 for job in client.job_list() if job.get("status") == "running")


def measure(
    url: str,
    token: str,
    server_pid: int,
    mode: str,
    jobs: int,
    seconds: float,
    window: float,
    profile: str = "",
) -> dict:
    """One round, in this process: ``jobs`` sleep jobs, a baseline window, then a
    dashboard window."""
    import jupyter_wps.client.job as job_module
    from jupyter_wps import connect
    from jupyter_wps.client.monitor import monitor
    from jupyter_wps.client.widgets import JobsDashboard, in_kernel

    visible = job_module._visible_directory
    if mode == "http":
        job_module._visible_directory = lambda uri: False
    requests = Counter()
    profiler = None
    try:
        client = connect(url, token=token)
        began = time.perf_counter()
        submitted = [client.sleep(seconds=seconds, wait=False) for _ in range(jobs)]
        submit_seconds = time.perf_counter() - began
        deadline = time.monotonic() + 60
        while running(client) < 0.95 * jobs and time.monotonic() < deadline:
            time.sleep(0.5)
        running_before = running(client)
        baseline = probe(window, server_pid, requests, [0])

        if profile:
            import cProfile

            profiler = cProfile.Profile(time.thread_time)  # CPU, not waits
            the_monitor = monitor()
            run_tasks = the_monitor._run
            the_monitor._run = lambda: profiler.runcall(run_tasks)  # the thread's target
        requests_before = requests.count
        began = time.perf_counter()
        dashboard = JobsDashboard(client, jobs=submitted)
        construct_seconds = time.perf_counter() - began
        sent = [0]
        send = dashboard._send

        def counted(msg, buffers=None):
            sent[0] += 1
            return send(msg, buffers)

        dashboard._send = counted
        time.sleep(2.0)  # the first poll of every job (file mode: one API request each)
        startup_requests = requests.count - requests_before
        with_dashboard = probe(window, server_pid, requests, sent, monitor()._wake)
        state_bytes = len(json.dumps(dashboard.get_state("jobs")))
        running_after = sum(1 for job in submitted if job.state == "running")
        dashboard.wait(timeout=seconds + 120)
        dashboard.close()
        deadline = time.monotonic() + 30
        while monitor().running and time.monotonic() < deadline:
            time.sleep(0.1)
        if profiler is not None:
            profiler.dump_stats(profile)
            monitor().__dict__.pop("_run", None)
        return {
            "mode": mode,
            "in_kernel": in_kernel(),
            "jobs": jobs,
            "submit_seconds": submit_seconds,
            "running_before": running_before,
            "running_after": running_after,
            "construct_seconds": construct_seconds,
            "startup_requests": startup_requests,
            "state_bytes": state_bytes,
            "failed": sum(1 for job in submitted if job.state != "successful"),
            "baseline": baseline,
            "dashboard": with_dashboard,
        }
    finally:
        requests.close()
        job_module._visible_directory = visible


# ---------------------------------------------------------------------- the driver


class Server(bench.JupyterWPS):
    """run.py's jupyter-wps server, with room for every job at once."""

    def __init__(self, root: Path, parallel: int) -> None:
        super().__init__(root)
        text = self.config_file.read_text(encoding="utf-8")
        self.config_file.write_text(
            text.replace("parallelprocesses = 4", f"parallelprocesses = {parallel}"),
            encoding="utf-8",
        )


class Kernel:
    """A real IPython kernel (this Python) with no front end."""

    def __init__(self) -> None:
        from jupyter_client import KernelManager

        self.manager = KernelManager(kernel_name="python3")
        env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
        env["PYTHONPYCACHEPREFIX"] = str(bench.PYCACHE)
        self.manager.start_kernel(env=env)
        self.client = self.manager.client()
        self.client.start_channels()
        self.client.wait_for_ready(timeout=60)
        self.run(f"import sys; sys.path.insert(0, {str(HERE)!r}); import widgets as _bench")

    def run(self, code: str, timeout: float = 600) -> str:
        out: list[str] = []
        errors: list[str] = []

        def hook(msg: dict) -> None:
            kind, content = msg["header"]["msg_type"], msg["content"]
            if kind == "stream":
                out.append(content["text"])
            elif kind == "error":
                errors.append("\n".join(content["traceback"]))

        reply = self.client.execute_interactive(
            code, timeout=timeout, output_hook=hook, allow_stdin=False
        )
        if reply["content"]["status"] != "ok" or errors:
            raise RuntimeError(f"in the kernel: {''.join(errors) or reply['content']}")
        return "".join(out)

    def measure(self, **kwargs) -> dict:
        code = f"print({RESULT_MARK!r} + _bench.json.dumps(_bench.measure(**{kwargs!r})))"
        out = self.run(code)
        line = next(x for x in out.splitlines() if x.startswith(RESULT_MARK))
        return json.loads(line[len(RESULT_MARK) :])

    def stop(self) -> None:
        self.client.stop_channels()
        self.manager.shutdown_kernel(now=True)


def quantile(values: list[float], q: float) -> float:
    if len(values) < 2:
        return values[0] if values else float("nan")
    return statistics.quantiles(values, n=100, method="inclusive")[int(q) - 1]


def median(values) -> float:
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else float("nan")


def summary(rounds: list[dict]) -> tuple[dict, dict]:
    """Medians over rounds of one mode: the main thread's probes (no widget, dashboard
    paused, dashboard live, and the per-round ratios live / paused and live / no widget),
    and the costs of the live dashboard (no widget for comparison)."""

    def ms(q):
        return lambda xs: 1000 * (max(xs) if q == "max" else quantile(xs, q))

    probes: dict[str, tuple[float, ...]] = {}
    for name, key, fn in (
        ("sleep(5 ms) overshoot p50 (ms)", "overshoots", ms(50)),
        ("sleep(5 ms) overshoot p95 (ms)", "overshoots", ms(95)),
        ("sleep(5 ms) overshoot max (ms)", "overshoots", ms("max")),
        ("pure-Python work, calls per second", "work_per_s", lambda x: x),
    ):
        none = [fn(r["baseline"][key]) for r in rounds]
        paused = [fn(r["dashboard"]["paused"][key]) for r in rounds]
        live = [fn(r["dashboard"][key]) for r in rounds]
        probes[name] = (
            median(none),
            median(paused),
            median(live),
            median(x / y for x, y in zip(live, paused, strict=True) if y),
            median(x / y for x, y in zip(live, none, strict=True) if y),
        )
    costs: dict[str, tuple[float, float]] = {}
    for name, key, scale in (
        ("monitor thread CPU (% of a core)", "monitor_cpu_per_s", 100),
        ("all kernel threads but the main one, CPU (% of a core)", "other_threads_cpu_per_s", 100),
        ("HTTP requests per second to the server", "requests_per_s", 1),
        ("widget messages per second", "messages_per_s", 1),
        ("server process CPU (% of a core)", "server_cpu_per_s", 100),
    ):
        before = [r["baseline"][key] for r in rounds]
        costs[name] = (
            scale * median(before),
            scale * median(r["dashboard"][key] for r in rounds),
        )
    return probes, costs


def fmt(x: float) -> str:
    if x != x:
        return "-"
    return f"{x:.0f}" if abs(x) >= 100 else f"{x:.2f}" if abs(x) < 10 else f"{x:.1f}"


def report(results: list[dict], args, header: list[str], settings: str) -> str:
    where = "in-process (no kernel)" if args.in_process else "IPython kernel"
    lines = [
        BEGIN,
        f"# A dashboard of {args.jobs} live jobs in a kernel",
        "",
        *header,
        f"- {settings}",
        "",
        "Written by `python benchmarks/widgets.py`; README.md says how to read it.",
        "",
    ]
    for mode in MODES:
        rounds = [r for r in results if r["mode"] == mode]
        if not rounds:
            continue
        title = {
            "file": "status files read by the kernel (same machine, the default)",
            "http": "HTTP polling only (the kernel cannot see the workdir)",
        }[mode]
        probes, costs = summary(rounds)
        lines += [
            f"## {title}: {where}, {len(rounds)} rounds",
            "",
            "| main thread, medians over rounds | no widget | dashboard paused "
            "| dashboard live | live / paused | live / no widget |",
            "|---|---:|---:|---:|---:|---:|",
        ]
        for name, values in probes.items():
            *absolute, paired, unpaired = values
            cells = " | ".join(fmt(x) for x in absolute)
            lines.append(f"| {name} | {cells} | **{fmt(paired)}** | {fmt(unpaired)} |")
        lines += [
            "",
            "| cost, medians over rounds | no widget | dashboard live |",
            "|---|---:|---:|",
        ]
        for name, (before, live) in costs.items():
            lines.append(f"| {name} | {fmt(before)} | **{fmt(live)}** |")
        monitor_cpu = costs["all kernel threads but the main one, CPU (% of a core)"][1]
        server_cpu = costs["server process CPU (% of a core)"][1]
        speed = probes["pure-Python work, calls per second"][3]
        lines += [
            "",
            f"In short: a live dashboard of {args.jobs} jobs costs the kernel "
            f"{monitor_cpu:.0f}% of one core (the server {server_cpu:.0f}%); "
            f"meanwhile cell code runs at {100 * speed:.0f}% speed (live / paused).",
            "",
            f"- jobs running (of {args.jobs}): before the baseline "
            + ", ".join(str(r["running_before"]) for r in rounds)
            + "; at the end of the dashboard window "
            + ", ".join(str(r["running_after"]) for r in rounds)
            + f"; not successful in the end: {sum(r['failed'] for r in rounds)}",
            "- `JobsDashboard(client, jobs=jobs)` took "
            + ", ".join(f"{1000 * r['construct_seconds']:.0f}" for r in rounds)
            + " ms in the main thread; HTTP requests in its first 2 s: "
            + ", ".join(str(r["startup_requests"]) for r in rounds)
            + f"; its `jobs` state is {median(r['state_bytes'] for r in rounds) / 1024:.0f} kB"
            " of JSON, sent whole on each change",
            "",
        ]
    lines.append(END)
    return "\n".join(lines) + "\n"


def write_section(path: Path, section: str) -> None:
    """This script's section of ``path``: replaced where it is, else appended."""
    text = path.read_text(encoding="utf-8") if path.exists() else ""
    if BEGIN in text and END in text:
        head, rest = text.split(BEGIN, 1)
        text = head + section.rstrip("\n") + rest.split(END, 1)[1]
    else:
        text = text.rstrip("\n") + "\n\n" + section
    path.write_text(text, encoding="utf-8")


def print_round(r: dict) -> None:
    b, d = r["baseline"], r["dashboard"]
    p, mcpu = d["paused"], d["monitor_cpu_per_s"]
    print(
        f"  {r['mode']:<4} running {r['running_before']}/{r['jobs']} "
        f"(submitted in {r['submit_seconds']:.1f} s) | work/s none {b['work_per_s']:.0f} "
        f"paused {p['work_per_s']:.0f} live {d['work_per_s']:.0f} | sleep p95 ms none "
        f"{1000 * quantile(b['overshoots'], 95):.2f} paused "
        f"{1000 * quantile(p['overshoots'], 95):.2f} live "
        f"{1000 * quantile(d['overshoots'], 95):.2f} | monitor "
        f"{'-' if mcpu is None else f'{100 * mcpu:.1f}'}% | req/s {d['requests_per_s']:.1f} "
        f"| msgs/s {d['messages_per_s']:.1f} | server {100 * b['server_cpu_per_s']:.0f}% -> "
        f"{100 * d['server_cpu_per_s']:.0f}%",
        flush=True,
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--jobs", type=int, default=100, help="jobs per round (default 100)")
    parser.add_argument("--seconds", type=float, default=40, help="each job's sleep (40 s)")
    parser.add_argument("--window", type=float, default=12, help="seconds per window (12)")
    parser.add_argument("--rounds", type=int, default=3, help="rounds per mode (default 3)")
    parser.add_argument("--modes", default="file,http", help="file,http (default both)")
    parser.add_argument(
        "--in-process", action="store_true", help="measure in this process, not in a kernel"
    )
    parser.add_argument(
        "--profile",
        metavar="FILE",
        help="cProfile the monitor thread (last round's stats to FILE; not written to results)",
    )
    parser.add_argument("--output", type=Path, default=RESULTS, help="default results.md")
    parser.add_argument("--no-write", action="store_true", help="print only")
    args = parser.parse_args(argv)
    modes = [m for m in args.modes.split(",") if m]
    if any(m not in MODES for m in modes):
        parser.error(f"--modes: {', '.join(MODES)}")

    root = Path(tempfile.mkdtemp(prefix="wps-widgets-bench-"))
    server = Server(root / "jupyter-wps", parallel=args.jobs + 10)
    kernel = None
    results: list[dict] = []
    try:
        server.start()
        print(f"jupyter-wps on port {server.port} (pid {server.process.pid})", flush=True)
        if not args.in_process:
            kernel = Kernel()
            print("kernel:", kernel.run("import sys; print(sys.executable)").strip(), flush=True)
        settings = (
            f"{args.jobs} async sleep jobs of {args.seconds:g} s per round, all running "
            f"(parallelprocesses = {args.jobs + 10}); windows of {args.window:g} s, first "
            f"without a widget, then with JobsDashboard(client, jobs=jobs); {args.rounds} "
            f"rounds per mode, modes alternating; load average at the start: "
            f"{bench.load_average()}"
        )
        print(settings, flush=True)
        for _ in range(args.rounds):
            for mode in modes:
                kwargs = dict(
                    url=server.wps_url,
                    token=server.token,
                    server_pid=server.process.pid,
                    mode=mode,
                    jobs=args.jobs,
                    seconds=args.seconds,
                    window=args.window,
                    profile=str(Path(args.profile).resolve()) if args.profile else "",
                )
                result = kernel.measure(**kwargs) if kernel else measure(**kwargs)
                print_round(result)
                results.append(result)
    except BaseException:
        print(f"--- server log (tail)\n{server.log()}", file=sys.stderr)
        raise
    finally:
        if kernel is not None:
            kernel.stop()
        server.stop()
    text = report(results, args, bench.machine(), settings)
    print()
    print(text)
    if args.profile:
        import pstats

        print(f"cProfile of the monitor thread (last round): {args.profile}")
        pstats.Stats(args.profile).sort_stats("cumulative").print_stats(30)
    elif not args.no_write:
        write_section(args.output, text)
        print(f"written to {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
