"""``pywps.cfg``: typed values, PyWPS compatibility, errors that name file, key and problem.

Also: a server started with a bad configuration stops (and says why), and ``pip install``
enabled the server extension.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest
from jupyter_core import paths
from live import LiveServer
from test_server import NS, wps_get

from jupyter_wps.config import (
    Config,
    ConfigError,
    load_config,
    parse_bool,
    parse_duration,
    parse_list,
    parse_size,
)

MB = 1024**2


def write(tmp_path: Path, text: str, name: str = "pywps.cfg") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def config_error(tmp_path: Path, text: str) -> ConfigError:
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as info:
        load_config(path)
    error = info.value
    assert error.source == str(path)
    assert str(path) in str(error)
    return error


# --------------------------------------------------------------------------- values


@pytest.mark.parametrize(
    "text, size",
    [
        ("3mb", 3 * MB),
        ("3MB", 3 * MB),
        ("3 mb", 3 * MB),
        ("3MiB", 3 * MB),
        ("200kb", 200 * 1024),
        ("200 KB", 200 * 1024),
        ("1G", 1024**3),
        ("1.5mb", int(1.5 * MB)),
        ("1024", 1024),
        ("1024b", 1024),
    ],
)
def test_sizes(tmp_path, text, size):
    assert parse_size(text) == size
    config = load_config(write(tmp_path, f"[server]\nmaxsingleinputsize = {text}\n"))
    assert config.maxsingleinputsize == size


@pytest.mark.parametrize(
    "text, seconds",
    [("30", 30), ("30s", 30), ("5m", 300), ("12h", 12 * 3600), ("7d", 7 * 86400), ("1w", 604800)],
)
def test_durations(tmp_path, text, seconds):
    assert parse_duration(text) == seconds
    config = load_config(
        write(
            tmp_path,
            f"[server]\njob_retention = {text}\nreference_timeout = {text}\n"
            f"[processing]\npoll_interval = {text}\n",
        )
    )
    assert config.job_retention == config.reference_timeout == config.poll_interval == seconds


@pytest.mark.parametrize(
    "text, value",
    [
        ("true", True),
        ("True", True),
        ("yes", True),
        ("on", True),
        ("1", True),
        ("false", False),
        ("FALSE", False),
        ("no", False),
        ("off", False),
        ("0", False),
    ],
)
def test_booleans(tmp_path, text, value):
    assert parse_bool(text) is value
    config = load_config(
        write(tmp_path, f"[server]\npublic_capabilities = {text}\ncapability_urls = {text}\n")
    )
    assert config.public_capabilities is value and config.capability_urls is value


def test_lists(tmp_path):
    assert parse_list("a\n  b \n\nc") == ["a", "b", "c"]
    assert parse_list("/a: /b:", ":") == ["/a", "/b"]
    config = load_config(
        write(
            tmp_path,
            "[server]\nallowedinputpaths = /data/in:/scratch\n"
            "[processing]\nprocesses =\n    a.b:PROCESSES\n    c:d\n",
        )
    )
    assert config.allowedinputpaths == ("/data/in", "/scratch")
    assert config.processes == ("a.b:PROCESSES", "c:d")


def test_defaults_without_a_file():
    config = load_config(None)
    assert config == Config(source="<defaults>")
    assert config.maxsingleinputsize == 3 * MB and config.parallelprocesses == 2
    assert config.mode == "default"


def test_overrides_win_over_the_file(tmp_path):
    path = write(tmp_path, "[server]\nparallelprocesses = 3\nworkdir = /from/file\n")
    config = load_config(path, {"parallelprocesses": 8, "workdir": None})
    assert config.parallelprocesses == 8  # a traitlet that is set
    assert config.workdir == "/from/file"  # a traitlet left unset (None)


def test_repository_example_loads():
    config = load_config(Path(__file__).parent.parent / "pywps.cfg")
    assert config.metadata.title == "Jupyter WPS demo"
    assert config.allowedinputpaths == ()


# --------------------------------------------------------------------------- PyWPS


PYWPS_CFG = """\
[metadata:main]
identification_title = PyWPS Processing Service
identification_abstract = An abstract
identification_keywords = PyWPS,WPS,OGC,processing
identification_keywords_type = theme
identification_fees = NONE
identification_accessconstraints = NONE
provider_name = Organization Name
provider_url = https://pywps.org/
contact_name = Lastname, Firstname
contact_position = Position Title
contact_address = Mailing Address
contact_city = City
contact_stateorprovince = Administrative Area
contact_postalcode = Zip or Postal Code
contact_country = Country
contact_phone = +xx-xxx-xxx-xxxx
contact_fax = +xx-xxx-xxx-xxxx
contact_email = Email Address
contact_url = https://example.org/contact
contact_hours = Hours of Service
contact_instructions = During hours of service.  Off on weekends.
contact_role = pointOfContact

[server]
url = http://localhost:5000/wps
language = en-US,fr-CA
maxprocesses = 30
maxsingleinputsize = 1mb
maxrequestsize = 3mb
temp_path = /tmp/pywps
outputurl = http://localhost:5000/outputs/
outputpath = /tmp/outputs
allowedinputpaths = /data:/scratch
workdir = /tmp/work
parallelprocesses = 2
sethomedir = false
cleantempdir = true
storagetype = file
storage_copy_function = copy
keep_status_file = false

[processing]
mode = default
path = /usr/bin
drmaa_native_specification = -l walltime=1:00:00

[logging]
file = /tmp/pywps.log
level = DEBUG
database = sqlite:///:memory:
format = %(asctime)s] [%(levelname)s] %(message)s
db_echo = false

[grass]
gisbase = /usr/lib/grass

[s3]
bucket = outputs
"""


def test_pywps_configuration_accepted(tmp_path):
    config = load_config(write(tmp_path, PYWPS_CFG))
    assert config.url == "http://localhost:5000/wps"
    assert config.language == "en-US"
    assert (config.maxprocesses, config.parallelprocesses) == (30, 2)
    assert (config.maxsingleinputsize, config.maxrequestsize) == (MB, 3 * MB)
    assert config.allowedinputpaths == ("/data", "/scratch")
    assert (config.outputpath, config.workdir) == ("/tmp/outputs", "/tmp/work")
    assert config.drmaa_native_specification == "-l walltime=1:00:00"
    assert (config.log_level, config.log_file) == ("DEBUG", "/tmp/pywps.log")
    meta = config.metadata
    assert meta.title == "PyWPS Processing Service"
    assert meta.keywords == ("PyWPS", "WPS", "OGC", "processing")
    assert meta.contact_instructions == "During hours of service.  Off on weekends."
    assert meta.contact_role == "pointOfContact"


@pytest.mark.parametrize(
    "section, key, value",
    [
        ("server", "encoding", "utf-8"),
        ("server", "processes_path", ""),
        ("server", "default_mimetype", "text/xml"),
        ("server", "json_indent", "2"),
        ("logging", "prefix", "pywps_"),
    ],
)
def test_more_pywps_default_keys_accepted(tmp_path, section, key, value):
    load_config(write(tmp_path, f"[{section}]\n{key} = {value}\n"))


# --------------------------------------------------------------------------- errors


@pytest.mark.parametrize("section", ["server", "processing", "logging"])
def test_unknown_key_names_file_section_and_key(tmp_path, section):
    error = config_error(tmp_path, f"[{section}]\nmaxsingelinputsize = 3mb\n")
    assert (error.section, error.key) == (section, "maxsingelinputsize")
    assert f"[{section}] maxsingelinputsize" in str(error)
    assert "not a known key" in error.problem


def test_unknown_sections_and_metadata_keys_ignored(tmp_path):
    config = load_config(
        write(tmp_path, "[grass]\ngisbase = /x\n[metadata:main]\nidentification_other = y\n")
    )
    assert config.metadata.title == "Jupyter WPS"


@pytest.mark.parametrize(
    "section, key, value, problem",
    [
        ("server", "maxsingleinputsize", "3 parsecs", "is not a size"),
        ("server", "maxsingleinputsize", "0", "must be positive"),
        ("server", "maxrequestsize", "lots", "is not a size"),
        ("server", "job_retention", "forever", "is not a duration"),
        ("server", "reference_timeout", "soon", "is not a duration"),
        ("server", "public_capabilities", "maybe", "is not a boolean"),
        ("server", "parallelprocesses", "many", "many"),
        ("server", "parallelprocesses", "0", "must be a positive number"),
        ("server", "maxprocesses", "0", "must be a positive number"),
        ("server", "url", "ftp://example.org/wps", "is not an http(s) URL"),
        ("server", "allowedinputpaths", "/data:relative/dir", "is not an absolute path"),
        ("processing", "mode", "cloud", "expected one of default, scheduler"),
        ("processing", "poll_interval", "0", "must be positive"),
        ("logging", "level", "LOUD", "expected DEBUG"),
    ],
)
def test_bad_value_names_the_problem(tmp_path, section, key, value, problem):
    error = config_error(tmp_path, f"[{section}]\n{key} = {value}\n")
    assert (error.section, error.key) == (section, key)
    assert problem in error.problem
    assert f"[{section}] {key}: " in str(error)


def test_zero_reference_timeout_refused(tmp_path):
    error = config_error(tmp_path, "[server]\nreference_timeout = 0\n")
    assert error.key == "reference_timeout"


def test_unreadable_file(tmp_path):
    error = config_error(tmp_path, "this is not an ini file\n")
    assert "cannot be read" in error.problem
    missing = tmp_path / "missing.cfg"
    with pytest.raises(ConfigError, match="missing.cfg"):
        load_config(missing)


# --------------------------------------------------------------------------- in a server


@pytest.fixture
def wps_settings(tmp_path):
    path = write(
        tmp_path,
        "[metadata:main]\n"
        "identification_title = Climate Data Processing\n"
        "identification_abstract = Indices on demand\n"
        "identification_keywords = climate, indices\n"
        "provider_name = Example Data Centre\n"
        "provider_url = https://data.example.org/\n"
        "contact_name = Ada Lovelace\n"
        "contact_email = ada@example.org\n"
        "contact_city = London\n",
    )
    return {"config_file": str(path)}


async def test_metadata_reaches_get_capabilities(jp_fetch):
    doc = await wps_get(jp_fetch, service="WPS", request="GetCapabilities")
    identification = doc.find("ows:ServiceIdentification", NS)
    assert identification.findtext("ows:Title", namespaces=NS) == "Climate Data Processing"
    assert identification.findtext("ows:Abstract", namespaces=NS) == "Indices on demand"
    keywords = [k.text for k in identification.iterfind("ows:Keywords/ows:Keyword", NS)]
    assert keywords == ["climate", "indices"]
    provider = doc.find("ows:ServiceProvider", NS)
    assert provider.findtext("ows:ProviderName", namespaces=NS) == "Example Data Centre"
    site = provider.find("ows:ProviderSite", NS)
    assert site.get("{http://www.w3.org/1999/xlink}href") == "https://data.example.org/"
    contact = provider.find("ows:ServiceContact", NS)
    assert contact.findtext("ows:IndividualName", namespaces=NS) == "Ada Lovelace"
    assert contact.findtext(".//ows:ElectronicMailAddress", namespaces=NS) == "ada@example.org"
    assert contact.findtext(".//ows:City", namespaces=NS) == "London"


def test_live_server_with_bad_config_exits_and_says_why(tmp_path):
    server = LiveServer(tmp_path / "bad", "parallelprocesses = many\n")
    returncode, log = server.run_until_exit(timeout=90)
    assert returncode != 0, log
    message = next((line for line in log.splitlines() if "cannot start" in line), "")
    assert str(server.config_file) in message, log
    assert "[server] parallelprocesses" in message, log
    assert "many" in message, log


def test_pip_install_enabled_the_extension():
    result = subprocess.run(
        [sys.executable, "-m", "jupyter_server", "extension", "list"],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    output = re.sub(r"\x1b\[[0-9;]*m", "", result.stdout + result.stderr)
    assert re.search(r"^\s*jupyter_wps enabled\s*$", output, re.MULTILINE), output
    assert re.search(r"^\s*jupyter_wps \S+ OK\s*$", output, re.MULTILINE), output
    # by the file pip installed into the environment (or system), not by a user's own config
    installed = {Path(d).resolve() for d in (*paths.ENV_CONFIG_PATH, *paths.SYSTEM_CONFIG_PATH)}
    sections = re.split(r"^Config dir: ", output, flags=re.MULTILINE)
    enabled_in = [
        Path(s.splitlines()[0].strip()).resolve()
        for s in sections
        if re.search(r"jupyter_wps enabled", s)
    ]
    assert any(
        d in installed and (d / "jupyter_server_config.d" / "jupyter_wps.json").is_file()
        for d in enabled_in
    ), output
