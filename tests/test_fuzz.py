"""Seeded, bounded fuzzing of the WPS endpoint: KVP requests, XML bodies, raw request bytes.

Whatever a request holds, the answer is a non-empty, schema-valid document: an
ExceptionReport with a status below 500 (501 for OperationNotSupported and 503 for
ServerBusy excepted), or a success document (or a RawDataOutput's content); and the server
answers GetCapabilities after every batch. The seed is fixed: a failure reproduces, and
its request is in the assertion message.
"""

from __future__ import annotations

import asyncio
import random
import re
import time
from collections import Counter
from pathlib import Path
from urllib.parse import quote

import pytest
import test_bad_requests
from lxml import etree
from schema import validate
from test_bad_requests import WPS_NS, wps_is_serving

SEED = 1234
KVP_REQUESTS = 300
XML_REQUESTS = 200
RAW_REQUESTS = 40
BATCH = 50
#: the longest a fuzzed value grows (the request line stays under tornado's header limit)
HUGE = 20_000

#: the raw-path request fixture of the bad-request tests
fetch_raw = test_bad_requests.fetch_raw

EXAMPLE = (
    Path(__file__).parent / "data" / "wps-examples" / "51_wpsExecute_request_ResponseDocument.xml"
)
WPS_NAMESPACES = ("http://www.opengis.net/wps/1.0.0", "http://www.opengis.net/wps/2.0")
EXCEPTION_REPORTS = (
    "{http://www.opengis.net/ows/1.1}ExceptionReport",
    "{http://www.opengis.net/ows/2.0}ExceptionReport",
)

# --------------------------------------------------------------------------- answers


def check_answer(code: int, content_type: str, body: bytes, what: str) -> str:
    """Fail unless the answer is well-formed; its exceptionCode (or the document's name)."""
    context = f"{what!r} -> {code} {body[:600]!r}"
    if code == 200 and not content_type.startswith("text/xml"):
        return "raw output"  # a RawDataOutput's content, whatever it is (even empty)
    assert body, f"empty body: {context}"
    assert content_type.startswith("text/xml"), f"{content_type}: {context}"
    root = etree.fromstring(body)
    if code == 200 and etree.QName(root).namespace not in WPS_NAMESPACES:
        return "raw output"  # a RawDataOutput in an XML format
    errors = validate(body)
    assert not errors, f"{errors[:5]}: {context}"
    if root.tag not in EXCEPTION_REPORTS:
        assert code == 200, context
        return etree.QName(root).localname
    exception_code = root[0].get("exceptionCode")
    assert (
        code < 500
        or (code == 501 and exception_code == "OperationNotSupported")
        or (code == 503 and exception_code == "ServerBusy")
    ), context
    return exception_code


async def serving(fetch_raw) -> None:
    await wps_is_serving(fetch_raw)


# --------------------------------------------------------------------------- KVP

VOCABULARY = {
    "service": ["WPS", "wps", "WMS"],
    "version": ["1.0.0", "2.0.0", "0.4"],
    "request": [
        "GetCapabilities",
        "DescribeProcess",
        "Execute",
        "GetStatus",
        "GetResult",
        "Dismiss",
        "DropTables",
    ],
    "identifier": ["say_hello", "echo", "ALL", "say_hello,echo", "nonesuch"],
    "DataInputs": [
        "name=World",
        "[name=a%3Bb]",
        "literal=x@uom=m;bbox=1,2,3,4,EPSG:4326",
        "bbox=1,2,3,4,urn:ogc:def:crs:EPSG::4326,2",
        "bbox=1,2,3",
        "complex=<a>b</a>@mimeType=text/xml",
        "complex=aGVsbG8=@mimeType=application/octet-stream@encoding=base64",
        "complex=@xlink:href=http://127.0.0.1:9/nothing",
        "complex=@xlink:href=file:///etc/passwd",
        "literal=1@method=POST",
    ],
    "ResponseDocument": ["output@asReference=true", "literal@uom=m", "output", "bbox;complex"],
    "RawDataOutput": ["output", "literal@mimeType=text/plain", "complex@mimeType=text/xml"],
    "storeExecuteResponse": ["true", "false", "maybe"],
    "status": ["true", "false"],
    "lineage": ["true", "false"],
    "language": ["en-US", "fr-CA"],
    "AcceptVersions": ["1.0.0", "2.0.0,1.0.0", "3.0.0"],
    "jobId": ["3f2504e0-4f89-41d3-9a0c-0305e82c3301", "..", "../../etc/passwd"],
    "walltime": ["01:00:00", "forever"],
    "memory": ["1G", "9" * 400 + "G"],
    "cores": ["2", "-1"],
    "queue": ["short", "a b"],
}
#: Placeholders for raw (already encoded) URL pieces, spliced in after quoting: percent-encoded
#: bytes (invalid UTF-8, NUL, U+FFFE, double encoding) and unencoded separators.
RAW = {
    "\ue000": "%FF",
    "\ue001": "%C3%28",
    "\ue002": "%ED%A0%80",  # a UTF-8 encoded surrogate
    "\ue003": "%00",
    "\ue004": "%2500",  # NUL once decoded inside DataInputs
    "\ue005": "%F4%90%80%80",  # beyond U+10FFFF
    "\ue006": "%EF%BF%BE",  # U+FFFE
    "\ue007": "%25",
    "\ue008": "&",
    "\ue009": "=",
    "\ue00a": "%E2%80%AE",  # right-to-left override: valid, but odd
}
CONTROLS = [chr(c) for c in (*range(0x20), 0x7F)] + ["\u0085", "\u2028", "\ufffe", "\uffff"]
SEPARATORS = list(";@=,[]&+%")


def _insert(rng: random.Random, text: str, piece: str) -> str:
    at = rng.randint(0, len(text))
    return text[:at] + piece + text[at:]


def _mutate_text(rng: random.Random, text: str) -> str:
    kind = rng.randrange(5)
    if kind == 0:
        return _insert(rng, text, rng.choice(CONTROLS))
    if kind == 1:
        return _insert(rng, text, rng.choice(list(RAW)))
    if kind == 2:
        return _insert(rng, text, rng.choice(SEPARATORS))
    if kind == 3:
        return (text or "x") * (HUGE // max(1, len(text)))
    return "".join(rng.sample(text, len(text)))  # shuffled


#: Execute inputs that fit each process, so that fuzzing reaches validation and execution
PROCESS_INPUTS = {
    "say_hello": ["name=World", "name=@xlink:href=http://127.0.0.1:9/x", "name=a@uom=m"],
    "echo": [v for v in VOCABULARY["DataInputs"] if not v.startswith(("name", "[name"))],
}
#: Execute three times as often as the others: it has the most to parse
OPERATIONS = VOCABULARY["request"] + ["Execute"] * 2


def kvp_request(rng: random.Random) -> str:
    """A query string: real vocabulary, then one to three mutations."""
    operation = rng.choice(OPERATIONS)
    items = [["service", "WPS"], ["version", "1.0.0"], ["request", operation]]
    if operation == "Execute":
        identifier = rng.choice(["say_hello", "echo", "say_hello", "echo", "ALL", "nonesuch"])
        inputs = PROCESS_INPUTS.get(identifier, VOCABULARY["DataInputs"])
        items += [["identifier", identifier], ["DataInputs", rng.choice(inputs)]]
    elif operation == "DescribeProcess":
        items.append(["identifier", rng.choice(VOCABULARY["identifier"])])
    elif operation in ("GetStatus", "GetResult", "Dismiss"):
        items.append(["jobId", rng.choice(VOCABULARY["jobId"])])
    for name in rng.sample(list(VOCABULARY)[5:], rng.randint(0, 4)):
        items.append([name, rng.choice(VOCABULARY[name])])
    for _ in range(rng.randint(1, 3)):
        kind = rng.randrange(7)
        # mostly the operation's own parameters: service, version and request are simple
        item = rng.choice(items[3:] if len(items) > 3 and rng.random() < 0.8 else items)
        if kind in (0, 1):
            item[1] = _mutate_text(rng, item[1])
        elif kind == 2:
            item[0] = _mutate_text(rng, item[0])[:200]
        elif kind == 3:  # repeated key, another value, another case
            items.append(
                [
                    rng.choice([str.upper, str.lower, str])(item[0]),
                    rng.choice(sum(VOCABULARY.values(), [])),
                ]
            )
        elif kind == 4 and len(items) > 1:
            items.remove(item)
        elif kind == 5:
            item[0] = item[0].swapcase()
        else:
            item[1] = rng.choice(sum(VOCABULARY.values(), []))
    query = "&".join(f"{quote(name, safe='')}={quote(value, safe='')}" for name, value in items)
    for placeholder, raw in RAW.items():
        query = query.replace(quote(placeholder, safe=""), raw)
    return query


@pytest.fixture
def wps_settings(tmp_path):
    # per-request resources may be chosen, so that their parsing is fuzzed too
    config = tmp_path / "pywps.cfg"
    config.write_text("[processing]\nallowed_overrides = walltime, memory, cores, queue\n")
    return {"config_file": str(config)}


async def test_fuzz_kvp(fetch_raw):
    rng = random.Random(SEED)
    seen: Counter[tuple[int, str]] = Counter()
    start = time.monotonic()
    for number in range(KVP_REQUESTS):
        query = kvp_request(rng)
        response = await fetch_raw(f"wps?{query}")
        content_type = response.headers.get("Content-Type", "")
        seen[response.code, check_answer(response.code, content_type, response.body, query)] += 1
        if number % BATCH == BATCH - 1:
            await serving(fetch_raw)
    print(f"KVP fuzz: {KVP_REQUESTS} requests in {time.monotonic() - start:.1f} s: {seen}")
    assert len(seen) > 6, seen  # the fuzzing reached many different answers


# --------------------------------------------------------------------------- XML

HELLO = f"""<?xml version="1.0" encoding="UTF-8"?>
<wps:Execute service="WPS" version="1.0.0" {WPS_NS}>
  <ows:Identifier>say_hello</ows:Identifier>
  <wps:DataInputs><wps:Input><ows:Identifier>name</ows:Identifier>
    <wps:Data><wps:LiteralData dataType="string" uom="m">World</wps:LiteralData></wps:Data>
  </wps:Input></wps:DataInputs>
  <wps:ResponseForm><wps:ResponseDocument lineage="true">
    <wps:Output asReference="false"><ows:Identifier>output</ows:Identifier></wps:Output>
  </wps:ResponseDocument></wps:ResponseForm>
</wps:Execute>""".encode()
ECHO = f"""<?xml version="1.0" encoding="UTF-8"?>
<wps:Execute service="WPS" version="1.0.0" {WPS_NS}>
  <ows:Identifier>echo</ows:Identifier>
  <wps:DataInputs>
    <wps:Input><ows:Identifier>complex</ows:Identifier>
      <wps:Data><wps:ComplexData mimeType="text/xml"><a><b c="d">e</b></a></wps:ComplexData>
      </wps:Data></wps:Input>
    <wps:Input><ows:Identifier>bbox</ows:Identifier>
      <wps:Data><wps:BoundingBoxData crs="EPSG:4326" dimensions="2">
        <ows:LowerCorner>1 2</ows:LowerCorner><ows:UpperCorner>3 4</ows:UpperCorner>
      </wps:BoundingBoxData></wps:Data></wps:Input>
  </wps:DataInputs>
  <wps:ResponseForm><wps:RawDataOutput mimeType="text/xml">
    <ows:Identifier>complex</ows:Identifier></wps:RawDataOutput></wps:ResponseForm>
</wps:Execute>""".encode()
DESCRIBE = f"""<wps:DescribeProcess service="WPS" version="1.0.0" {WPS_NS}>
  <ows:Identifier>say_hello</ows:Identifier><ows:Identifier>echo</ows:Identifier>
</wps:DescribeProcess>""".encode()
GET_STATUS = b"""<wps:GetStatus service="WPS" version="2.0.0"
  xmlns:wps="http://www.opengis.net/wps/2.0"><wps:JobID>nonesuch</wps:JobID></wps:GetStatus>"""
BASES = [EXAMPLE.read_bytes(), HELLO, ECHO, DESCRIBE, GET_STATUS]

DOCTYPES = [
    b'<!DOCTYPE x [<!ENTITY e "boom">]>',
    b'<!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]>',
    b'<!DOCTYPE x SYSTEM "http://127.0.0.1:9/x.dtd">',
]
REFERENCES = [
    b"&e;",
    b"&#0;",
    b"&#x1F;",
    b"&#xFFFE;",
    b"&#xD800;",
    b"&#x110000;",
    b"&amp;",
    b"&undefined;",
]
NAMESPACES = [
    b"http://www.opengis.net/wps/2.0",
    b"http://www.opengis.net/wps/1.0.1",
    b"http://evil.example/",
    b"",
]
ATTRIBUTES = [
    b' uom="&#1;"',
    b' asReference="maybe"',
    b' dataType="integer"',
    b' mimeType="application/x-unknown"',
    b' encoding="base64"',
    b' dimensions="999999999999999999999"',
    b' crs="\xff"',
    b' xlink:href="http://[::1"',
]


def _element_ends(body: bytes) -> list[int]:
    return [m.end() - 1 for m in re.finditer(rb"<[A-Za-z][^<>]*?(?=/?>)", body)]


def xml_mutation(rng: random.Random, body: bytes) -> bytes:
    kind = rng.randrange(12)
    at = rng.randint(0, len(body))
    if kind == 0:  # truncation
        return body[:at]
    if kind == 1:  # byte flips
        data = bytearray(body)
        for _ in range(rng.randint(1, 4)):
            data[rng.randrange(len(data))] = rng.randrange(256)
        return bytes(data)
    if kind == 2:  # a DOCTYPE with entities, referenced in the text
        head, sep, rest = body.partition(b"?>")
        doctype = rng.choice(DOCTYPES)
        body = head + sep + doctype + rest if sep else doctype + body
        return body.replace(b"World", b"&e;")
    if kind == 3:  # character and entity references
        return body[:at] + rng.choice(REFERENCES) + body[at:]
    if kind == 4:  # deep nesting inside the first text
        depth = rng.choice([50, 300, 3000])
        return body.replace(b">", b">" + b"<n>" * depth + b"x" + b"</n>" * depth, 2)
    if kind == 5:  # wrong namespace
        return body.replace(b"http://www.opengis.net/wps/1.0.0", rng.choice(NAMESPACES))
    if kind == 6:  # a huge text
        return body.replace(b"World", b"W" * rng.choice([HUGE, 500_000]))
    if kind == 7:  # encoding declaration, byte order mark
        body = re.sub(rb"<\?xml[^>]*\?>", b"", body)
        prefix = rng.choice(
            [
                b'<?xml version="1.0" encoding="UTF-16"?>',
                b'<?xml version="1.0" encoding="nonsense"?>',
                b'<?xml version="1.1"?>',
                b"\xef\xbb\xbf",
                b"\xff\xfe",
            ]
        )
        return prefix + body
    if kind == 8:  # an attribute added to some element
        ends = _element_ends(body)
        if ends:
            end = rng.choice(ends)
            return body[:end] + rng.choice(ATTRIBUTES) + body[end:]
        return body
    if kind == 9:  # duplicated element
        match = rng.choice(
            list(re.finditer(rb"<(ows:Identifier|wps:Input|wps:Output)\b.*?</\1>", body, re.S))
            or [None]
        )
        if match is None:
            return body + body
        return body[: match.end()] + match.group() + body[match.end() :]
    if kind == 10:  # a process that exists
        return body.replace(b">Buffer<", b">" + rng.choice([b"echo", b"say_hello", b"ALL"]) + b"<")
    return body[:at] + bytes(rng.randrange(256) for _ in range(rng.randint(1, 8))) + body[at:]


async def test_fuzz_xml(fetch_raw):
    rng = random.Random(SEED)
    seen: Counter[tuple[int, str]] = Counter()
    start = time.monotonic()
    for number in range(XML_REQUESTS):
        body = rng.choice(BASES)
        for _ in range(rng.randint(1, 3)):
            body = xml_mutation(rng, body)
        response = await fetch_raw("wps", method="POST", body=body)
        content_type = response.headers.get("Content-Type", "")
        seen[
            response.code, check_answer(response.code, content_type, response.body, body[:2000])
        ] += 1
        if number % BATCH == BATCH - 1:
            await serving(fetch_raw)
    print(f"XML fuzz: {XML_REQUESTS} requests in {time.monotonic() - start:.1f} s: {seen}")
    assert len(seen) > 5, seen


# --------------------------------------------------------------------------- raw bytes


async def raw_get(port: int, target: bytes, token: str) -> tuple[int, str, bytes]:
    """A GET with the request target's bytes exactly as given (no client re-encodes them)."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(
        b"GET " + target + b" HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        b"Authorization: token " + token.encode() + b"\r\nConnection: close\r\n\r\n"
    )
    await writer.drain()
    answer = await asyncio.wait_for(reader.read(), 30)
    writer.close()
    head, _, body = answer.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = dict(line.split(": ", 1) for line in lines[1:] if ": " in line)
    if headers.get("Transfer-Encoding") == "chunked":
        chunks, rest = [], body
        while rest:
            size, _, rest = rest.partition(b"\r\n")
            if not int(size, 16):
                break
            chunks.append(rest[: int(size, 16)])
            rest = rest[int(size, 16) + 2 :]
        body = b"".join(chunks)
    return int(lines[0].split()[1]), headers.get("Content-Type", ""), body


async def test_fuzz_raw_request_bytes(fetch_raw, jp_http_port, jp_base_url, jp_serverapp):
    """Bytes no HTTP client library sends: raw non-ASCII and invalid UTF-8 in the query.

    (Control characters and spaces in the request line are refused by tornado itself,
    before any handler, with a bare 400: not the WPS's answer to give.)
    """
    rng = random.Random(SEED)
    token = jp_serverapp.identity_provider.token
    high = [bytes([b]) for b in range(0x80, 0x100)] + [b"\xed\xa0\x80", b"\xef\xbf\xbe", b"%00"]
    seen: Counter[tuple[int, str]] = Counter()
    for number in range(RAW_REQUESTS):
        query = kvp_request(rng).encode()
        for _ in range(rng.randint(1, 4)):
            at = rng.randint(0, len(query))
            query = query[:at] + rng.choice(high) + query[at:]
        target = jp_base_url.encode() + b"wps?" + query
        code, content_type, body = await raw_get(jp_http_port, target, token)
        seen[code, check_answer(code, content_type, body, target)] += 1
        if number % BATCH == BATCH - 1:
            await serving(fetch_raw)
    await serving(fetch_raw)
    print(f"raw fuzz: {seen}")
