"""IPython magics: ``%load_ext jupyter_wps``, then ``%wps``.

``%wps`` lists the processes of a WPS and the user's jobs, shows a job and cancels
jobs, from any IPython (a Jupyter kernel, the terminal). It connects the first time
it needs a server (``connect()``: the Jupyter server the kernel runs under) unless
``%wps connect URL --token T`` said which; the magic returns what it shows, so
``client = %wps connect`` or ``job = %wps job 3f2a`` keep it. Loading the extension
connects to nothing and puts nothing into the user's namespace.

Listing and looking up jobs use jupyter-wps's JSON API (``GET <wps>/api/jobs``);
with another WPS (PyWPS) ``%wps job`` and ``%wps cancel`` take a status location URL.
"""

from __future__ import annotations

import datetime as dt
import functools
import html
import textwrap
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import requests
from IPython.core.error import UsageError
from IPython.core.magic import Magics, line_magic, magics_class
from IPython.core.magic_arguments import MagicArgumentParser, MagicHelpFormatter

from .connect import ServerNotFound, connect, remember
from .job import FINAL, Job, WPSError
from .processes import NoJobList, WPSClient

__all__ = ["Table", "WPSMagics", "load_ipython_extension", "unload_ipython_extension"]

#: jobs ``%wps jobs`` shows without ``--all``
DEFAULT_LIMIT = 20
#: characters of a job id shown (as the scheduler's job names: ``wps-<8 characters>``)
SHORT_ID = 8

# --------------------------------------------------------------------------- arguments

#: IPython's help format (usage as ``%wps ...`` in a code block), a wider option column
_FORMATTER = functools.partial(MagicHelpFormatter, max_help_position=28)


def _fill(text: str) -> str:
    return textwrap.fill(text, 88)


def _subcommand(commands: Any, name: str, summary: str, description: str) -> MagicArgumentParser:
    parser = commands.add_parser(
        name,
        help=summary,
        description=_fill(description),
        prog=f"wps {name}",
        formatter_class=_FORMATTER,
        add_help=False,
    )
    parser.add_argument("-h", "--help", action="store_true", dest="sub_help", help="this help")
    return parser


def _parser() -> MagicArgumentParser:
    parser = MagicArgumentParser(
        prog="wps",
        formatter_class=_FORMATTER,
        description=_fill(
            "The processes and jobs of a WPS. Without a command: the processes. The first "
            "command that needs a server connects with connect() (the Jupyter server this "
            "kernel runs under) unless `%wps connect` said which. Each command returns "
            "what it shows: `client = %wps connect`, `job = %wps job 3f2a`."
        ),
        add_help=False,
    )
    parser.add_argument("-h", "--help", action="store_true", help="this help")
    commands = parser.add_subparsers(
        dest="command", metavar="COMMAND", parser_class=MagicArgumentParser
    )
    con = _subcommand(
        commands,
        "connect",
        "connect to a WPS and use it from now on",
        "Connect to a WPS and use it for the commands that follow; returns the WPSClient "
        "(`client = %wps connect`). Without URL: the Jupyter server this kernel runs "
        "under (see jupyter_wps.connect).",
    )
    con.add_argument(
        "url",
        nargs="?",
        metavar="URL",
        help="the WPS endpoint (http://host:8888/wps), or the name of a WPSClient variable",
    )
    con.add_argument("--token", metavar="T", help="the Jupyter or JupyterHub token to send")
    _subcommand(
        commands,
        "processes",
        "list the processes (the default command)",
        "The processes of the WPS (read again from the server): identifier, title, and "
        "the first line of the abstract. Call one as `client.<name>(...)`.",
    )
    jobs = _subcommand(
        commands,
        "jobs",
        "list your jobs",
        "Your jobs on the server, unfinished first, then the newest: id (its first "
        f"{SHORT_ID} characters), process, state, progress, message, creation time. "
        "Needs jupyter-wps's JSON API (GET <wps>/api/jobs).",
    )
    jobs.add_argument("-a", "--all", action="store_true", help="all the jobs")
    jobs.add_argument(
        "-n",
        "--limit",
        type=int,
        default=DEFAULT_LIMIT,
        metavar="N",
        help=f"at most N jobs (default {DEFAULT_LIMIT})",
    )
    job = _subcommand(
        commands,
        "job",
        "show a job (returns the Job)",
        "The job as a jupyter_wps.client.Job: its live display in a notebook; "
        "`job = %wps job ID` keeps it (job.result(), job.cancel(), await job).",
    )
    job.add_argument(
        "id", metavar="ID", help="a job id, a unique prefix of one, or a status location URL"
    )
    cancel = _subcommand(
        commands,
        "cancel",
        "cancel (dismiss) jobs",
        "Dismiss jobs (WPS 2.0 Dismiss): a queued or running job is stopped, and its "
        "outputs deleted. A job that has already finished is left alone unless --remove.",
    )
    cancel.add_argument(
        "ids",
        nargs="+",
        metavar="ID",
        help="job ids, unique prefixes of them, or status location URLs",
    )
    cancel.add_argument(
        "--remove",
        action="store_true",
        help="also remove finished jobs, with their outputs (Dismiss of a finished job)",
    )
    return parser


PARSER = _parser()
#: the subcommands' parsers, by name
COMMANDS: dict[str, MagicArgumentParser] = next(
    action.choices for action in PARSER._actions if action.dest == "command"
)


def _usage() -> str:
    """The whole help: the magic's docstring (``%wps?``) and ``%wps --help``."""
    parts = [PARSER.format_help().rstrip()]
    parts += [parser.format_help().rstrip() for parser in COMMANDS.values()]
    examples = """\
Examples (a magic takes the whole line: no comments after it)::

  %load_ext jupyter_wps
  %wps
  %wps connect https://hub/user/me/wps --token $TOKEN
  %wps jobs --all
  job = %wps job 3f2a
  %wps cancel 3f2a 9c01"""
    return "\n\n".join([*parts, examples]) + "\n"


# --------------------------------------------------------------------------- tables


@dataclass(frozen=True)
class Cell:
    """A table cell: its text, and in HTML a tooltip and a style."""

    text: str
    title: str = ""
    style: str = ""

    def __str__(self) -> str:
        return self.text


class Table:
    """What ``%wps processes`` and ``%wps jobs`` show: an HTML table in a notebook, text
    in a terminal. It is also a sequence of the items it lists (ProcessDescriptions, or
    jobs as the JSON API describes them)."""

    def __init__(
        self,
        columns: Sequence[str],
        rows: Sequence[Sequence[str | Cell]],
        items: Sequence[Any],
        title: str = "",
        note: str = "",
        widths: Sequence[int | None] = (),
        empty: str = "nothing",
    ) -> None:
        self.columns, self.rows, self.items = list(columns), [list(r) for r in rows], list(items)
        self.title, self.note, self.empty = title, note, empty
        self.widths = list(widths) + [None] * (len(self.columns) - len(widths))

    def __len__(self) -> int:
        return len(self.items)

    def __iter__(self) -> Iterator[Any]:
        return iter(self.items)

    def __getitem__(self, index: int) -> Any:
        return self.items[index]

    def __repr__(self) -> str:
        lines = [self.title] if self.title else []
        if not self.rows:
            return "\n".join([*lines, self.empty, *([self.note] if self.note else [])])

        def clip(text: str, width: int | None) -> str:
            text = " ".join(text.split())
            return text if width is None or len(text) <= width else text[: width - 1] + "…"

        cells = [
            [clip(str(c), w) for c, w in zip(row, self.widths, strict=True)] for row in self.rows
        ]
        sizes = [
            max(len(name), *(len(row[i]) for row in cells)) for i, name in enumerate(self.columns)
        ]

        def line(values: Sequence[str]) -> str:
            return "  ".join(v.ljust(size) for v, size in zip(values, sizes, strict=True)).rstrip()

        lines += [line(self.columns), line(["-" * size for size in sizes])]
        lines += [line(row) for row in cells]
        if self.note:
            lines.append(self.note)
        return "\n".join(lines)

    def _repr_html_(self) -> str:
        def cell(value: str | Cell) -> str:
            value = value if isinstance(value, Cell) else Cell(str(value))
            attributes = ""
            if value.title:
                attributes += f' title="{html.escape(value.title, quote=True)}"'
            if value.style:
                attributes += f' style="{html.escape(value.style, quote=True)}"'
            return f"<td{attributes}>{html.escape(value.text)}</td>"

        title = f"<b>{html.escape(self.title)}</b>" if self.title else ""
        note = f"<p><i>{html.escape(self.note)}</i></p>" if self.note else ""
        if not self.rows:
            return f"<div>{title}<p>{html.escape(self.empty)}</p>{note}</div>"
        head = "".join(f'<th style="text-align:left">{html.escape(c)}</th>' for c in self.columns)
        body = "".join(
            "<tr>" + "".join(cell(value) for value in row) + "</tr>" for row in self.rows
        )
        return f"<div>{title}<table><tr>{head}</tr>{body}</table>{note}</div>"


def _first_line(text: str) -> str:
    return next((line.strip() for line in text.strip().splitlines() if line.strip()), "")


def _local_time(text: str | None) -> str:
    if not text:
        return ""
    try:
        when = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return text
    if when.tzinfo is not None:
        when = when.astimezone()
    return f"{when:%Y-%m-%d %H:%M:%S}"


_STATE_STYLE = {
    "successful": "color:green",
    "failed": "color:red",
    "dismissed": "color:gray",
    "running": "font-weight:bold",
}


def _process_table(client: WPSClient) -> Table:
    described = [function.process for function in client.processes.values()]
    rows = [
        (Cell(p.identifier, title=f"client.{p.name}"), p.title, _first_line(p.abstract))
        for p in described
    ]
    return Table(
        ("process", "title", "abstract"),
        rows,
        described,
        title=f"{client.title or 'WPS'} at {client.url}",
        widths=(None, 40, 60),
        empty="no processes",
    )


def _job_table(client: WPSClient, jobs: list[dict[str, Any]], limit: int | None) -> Table:
    ordered = sorted(jobs, key=lambda j: str(j.get("created") or ""), reverse=True)
    ordered.sort(key=lambda j: j.get("status") in FINAL)  # stable: unfinished first
    shown = ordered if limit is None else ordered[: max(limit, 0)]
    rows = []
    for job in shown:
        job_id, state = str(job.get("jobID", "")), str(job.get("status", ""))
        progress = job.get("progress")
        rows.append(
            (
                Cell(job_id[:SHORT_ID], title=job_id),
                str(job.get("processID", "")),
                Cell(state, style=_STATE_STYLE.get(state, "")),
                "" if progress is None else f"{progress}%",
                str(job.get("message") or ""),
                _local_time(job.get("created")),
            )
        )
    unfinished = sum(j.get("status") not in FINAL for j in jobs)
    note = f"{len(jobs)} jobs, {unfinished} unfinished"
    if len(shown) < len(ordered):
        note = f"the first {len(shown)} of {note}: %wps jobs --all for all"
    return Table(
        ("id", "process", "state", "progress", "message", "created"),
        rows,
        shown,
        title=f"Jobs at {client.url}",
        note=note if jobs else "",
        widths=(None, 24, None, None, 40, None),
        empty="no jobs",
    )


# --------------------------------------------------------------------------- errors


def _reason(error: BaseException) -> str:
    """The innermost cause of a requests error, briefly: "Connection refused"."""
    cause: BaseException | None = error
    reason = type(error).__name__
    seen = set()
    while cause is not None and id(cause) not in seen:
        seen.add(id(cause))
        if isinstance(cause, OSError) and cause.strerror:
            reason = cause.strerror
        elif isinstance(cause, requests.Timeout):
            reason = "timed out"
        cause = cause.__cause__ or cause.__context__
    return reason


def _short(job_id: str) -> str:
    return job_id[:SHORT_ID]


# --------------------------------------------------------------------------- the magics


@magics_class
class WPSMagics(Magics):
    """The ``%wps`` line magic; ``client`` is the WPSClient it uses (None until connected)."""

    def __init__(self, shell: Any = None) -> None:
        super().__init__(shell)
        self.client: WPSClient | None = None

    @line_magic
    def wps(self, line: str = "") -> Any:
        args = PARSER.parse_argstring(line)
        command = args.command or "processes"
        if args.help or getattr(args, "sub_help", False):
            print(_usage() if args.help else COMMANDS[command].format_help())
            return None
        try:
            return getattr(self, f"_{command}")(args)
        except ServerNotFound as error:
            raise UsageError(f"{error}\nOr: %wps connect URL --token T") from None
        except requests.RequestException as error:
            url = getattr(error.request, "url", None) or getattr(self.client, "url", "the WPS")
            where = urlunsplit(urlsplit(url)._replace(query="", fragment=""))
            raise UsageError(f"cannot reach {where}: {_reason(error)}") from None
        except (WPSError, NotImplementedError) as error:
            raise UsageError(str(error)) from None

    wps.__doc__ = _usage()

    # ------------------------------------------------------------------ commands

    def _connected(self) -> tuple[WPSClient, bool]:
        """The client, connecting (and saying to what) the first time; just connected?"""
        if self.client is not None:
            return self.client, False
        client = connect()
        print(f"connected to {client.url} (found from {client.source})")
        self.client = client
        return client, True

    def _connect(self, args: Any) -> WPSClient:
        url, user_ns = args.url, getattr(self.shell, "user_ns", {})
        if url and "://" not in url:
            if url.isidentifier() and isinstance(user_ns.get(url), WPSClient):
                if args.token:
                    raise UsageError("--token goes with a URL, not with a WPSClient variable")
                self.client = user_ns[url]
                remember(self.client)  # publish() without a client uses it too
                return self.client
            raise UsageError(f"{url!r} is neither a URL (http://...) nor a WPSClient variable")
        self.client = connect(url, token=args.token)
        return self.client

    def _processes(self, args: Any) -> Table:
        client, just_connected = self._connected()
        if not just_connected:
            client.refresh()  # a process published since is listed
        return _process_table(client)

    def _jobs(self, args: Any) -> Table:
        client, _ = self._connected()
        return _job_table(client, self._job_list(client), None if args.all else args.limit)

    def _job(self, args: Any) -> Job:
        client, _ = self._connected()
        ((location, listed),) = self._resolve(client, [args.id])
        return self._open(client, location, listed)

    def _cancel(self, args: Any) -> None:
        client, _ = self._connected()
        for location, listed in self._resolve(client, args.ids):  # all resolved, then dismissed
            job = self._open(client, location, listed)
            process = job.process.identifier if job.process else (listed or {}).get("processID")
            name = f"job {_short(job.id or '?')} ({process or 'unknown process'})"
            if job.done and not args.remove:
                print(
                    f"{name} has already ended ({job.state}): nothing to cancel; "
                    "--remove removes it and its outputs"
                )
                continue
            finished = job.done
            before = job.state if finished else f"{job.state}, {job.percent}%"
            job.cancel()
            print(f"{name} {'removed' if finished else 'dismissed'} (it was {before})")
        return None

    @staticmethod
    def _open(client: WPSClient, location: str, listed: dict[str, Any] | None) -> Job:
        """The Job at a status location; a process published since connecting is read first."""
        if listed is not None and listed.get("processID") not in client.processes:
            client.refresh()  # the Job then turns outputs into the process's result type
        return client.job(location)

    # ------------------------------------------------------------------ the JSON API

    def _job_list(self, client: WPSClient) -> list[dict[str, Any]]:
        """The user's jobs from ``GET <wps>/api/jobs``; UsageError without that API."""
        try:
            return client.job_list()
        except NoJobList as error:
            raise UsageError(
                f"{error}: use the Job objects your calls return, or %wps job / %wps cancel "
                "with a status location URL"
            ) from None

    def _resolve(
        self, client: WPSClient, ids: Sequence[str]
    ) -> list[tuple[str, dict[str, Any] | None]]:
        """Jobs given by id, unique id prefix, or status location URL: each one's status
        location, and the job as the job list describes it (None for a URL)."""
        locations: list[tuple[str, dict[str, Any] | None]] = []
        jobs: list[dict[str, Any]] | None = None
        for given in ids:
            if "://" in given:
                locations.append((given, None))
                continue
            if jobs is None:
                jobs = self._job_list(client)
            key = given.strip().lower()
            matches = [j for j in jobs if str(j["jobID"]).lower() == key]
            if not matches and key:
                matches = [j for j in jobs if str(j["jobID"]).lower().startswith(key)]
            if not matches:
                raise UsageError(
                    f"no job {given!r} among your {len(jobs)} jobs at {client.url} "
                    "(%wps jobs --all lists them)"
                )
            if len(matches) > 1:
                listed = ", ".join(f"{j['jobID']} ({j.get('processID')})" for j in matches[:5])
                more = f" and {len(matches) - 5} more" if len(matches) > 5 else ""
                raise UsageError(f"job id {given!r} is ambiguous: {listed}{more}")
            (found,) = matches
            status = next(
                (
                    link.get("href")
                    for link in found.get("links") or ()
                    if isinstance(link, dict) and link.get("rel") == "status"
                ),
                None,
            )
            if not status:
                raise UsageError(f"the job list gives no status location for job {found['jobID']}")
            locations.append((status, found))
        return locations


# --------------------------------------------------------------------------- the extension


def load_ipython_extension(ipython: Any) -> None:
    """Register ``%wps`` (once: loading again keeps the magics and their connection)."""
    if not isinstance(ipython.magics_manager.registry.get(WPSMagics.__name__), WPSMagics):
        ipython.register_magics(WPSMagics)


def unload_ipython_extension(ipython: Any) -> None:
    """Remove ``%wps`` (and forget its connection)."""
    manager = ipython.magics_manager
    magics = manager.registry.pop(WPSMagics.__name__, None)
    for kind in ("line", "cell"):
        table = manager.magics.get(kind, {})
        for name, function in list(table.items()):
            if getattr(function, "__self__", None) is magics:
                del table[name]
