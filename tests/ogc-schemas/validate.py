#!/usr/bin/env python3
"""Validate WPS / OWS XML documents against the official OGC schemas, offline.

The schemas here are copies of the OGC originals (schemas.opengis.net) and the
W3C schemas they import, laid out by host so that every absolute
schemaLocation resolves to a file in this folder. Nothing is fetched.

    python validate.py FILE.xml [FILE.xml ...]     # exit 1 on the first invalid file
    python validate.py -                           # read one document from stdin

From Python (e.g. in tests):

    import sys; sys.path.insert(0, "<path>/ogc-schemas")
    from validate import validate
    errors = validate(xml_bytes)      # [] when valid

The schema is chosen from the root element's namespace: WPS 1.0.0
(http://www.opengis.net/wps/1.0.0), WPS 2.0 (http://www.opengis.net/wps/2.0),
OWS 1.1 exception reports (http://www.opengis.net/ows/1.1).
"""

import os
import sys
from functools import cache
from pathlib import Path

from lxml import etree

HERE = os.path.dirname(os.path.abspath(__file__))
ROOTS = {
    "http://www.opengis.net/wps/1.0.0": "schemas.opengis.net/wps/1.0.0/wpsAll.xsd",
    "http://www.opengis.net/wps/2.0": "schemas.opengis.net/wps/2.0/wps.xsd",
    "http://www.opengis.net/ows/1.1": "schemas.opengis.net/ows/1.1.0/owsAll.xsd",
    "http://www.opengis.net/ows/2.0": "schemas.opengis.net/ows/2.0/owsAll.xsd",
}


class _Local(etree.Resolver):
    """Map http(s)://host/path to HERE/host/path; refuse anything else."""

    def resolve(self, url, pubid, context):
        for scheme in ("http://", "https://"):
            if url.startswith(scheme):
                path = os.path.join(HERE, url[len(scheme) :])
                if os.path.isfile(path):
                    return self.resolve_filename(path, context)
                raise OSError(f"schema not in the offline copy: {url}")
        return None


@cache
def _schema(namespace):
    parser = etree.XMLParser(no_network=True, load_dtd=False)
    parser.resolvers.add(_Local())
    doc = etree.parse(os.path.join(HERE, ROOTS[namespace]), parser)
    return etree.XMLSchema(doc)


def validate(xml):
    """Return a list of error strings; empty when the document is valid."""
    parser = etree.XMLParser(resolve_entities=False, no_network=True)
    try:
        root = etree.fromstring(xml, parser)
    except etree.XMLSyntaxError as exc:
        return [f"not well-formed: {exc}"]
    namespace = etree.QName(root).namespace
    if namespace not in ROOTS:
        return [f"no schema for root element {root.tag}"]
    schema = _schema(namespace)
    if schema.validate(root):
        return []
    return [f"line {e.line}: {e.message}" for e in schema.error_log]


def main(argv):
    if not argv:
        print(__doc__)
        return 2
    for name in argv:
        data = sys.stdin.buffer.read() if name == "-" else Path(name).read_bytes()
        errors = validate(data)
        if errors:
            print(f"{name}: INVALID")
            for line in errors[:20]:
                print(f"  {line}")
            return 1
        print(f"{name}: valid")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
