"""XML plumbing shared by request parsing and response building."""

from __future__ import annotations

from lxml import etree

from .exceptions import FileSizeExceeded, NoApplicableCode

NS = {
    "wps": "http://www.opengis.net/wps/1.0.0",
    "wps2": "http://www.opengis.net/wps/2.0",
    "ows": "http://www.opengis.net/ows/1.1",
    "ows2": "http://www.opengis.net/ows/2.0",
    "xlink": "http://www.w3.org/1999/xlink",
    "xsi": "http://www.w3.org/2001/XMLSchema-instance",
    "xml": "http://www.w3.org/XML/1998/namespace",
}
WPS = f"{{{NS['wps']}}}"
WPS2 = f"{{{NS['wps2']}}}"
OWS = f"{{{NS['ows']}}}"
OWS2 = f"{{{NS['ows2']}}}"
XLINK = f"{{{NS['xlink']}}}"
XSI = f"{{{NS['xsi']}}}"
XML_LANG = f"{{{NS['xml']}}}lang"

SCHEMA_LOCATIONS = {
    "capabilities": "http://schemas.opengis.net/wps/1.0.0/wpsGetCapabilities_response.xsd",
    "describe": "http://schemas.opengis.net/wps/1.0.0/wpsDescribeProcess_response.xsd",
    "execute": "http://schemas.opengis.net/wps/1.0.0/wpsExecute_response.xsd",
    "exception": "http://schemas.opengis.net/ows/1.1.0/owsExceptionReport.xsd",
    "wps2": "http://schemas.opengis.net/wps/2.0/wps.xsd",
}

#: Parser for anything that crosses a trust boundary: no entities, no DTD, no network,
#: no huge trees.
_SAFE_PARSER = etree.XMLParser(
    resolve_entities=False,
    no_network=True,
    load_dtd=False,
    dtd_validation=False,
    huge_tree=False,
    remove_comments=True,
    remove_pis=True,
)


def parse_xml(data: bytes, max_bytes: int | None = None) -> etree._Element:
    """Parse untrusted XML; a DOCTYPE (the door to XXE and entity bombs) is refused."""
    if max_bytes is not None and len(data) > max_bytes:
        raise FileSizeExceeded(f"XML document larger than {max_bytes} bytes")
    try:
        root = etree.fromstring(data, _SAFE_PARSER)
    except etree.XMLSyntaxError as exc:
        raise NoApplicableCode(f"the request is not well-formed XML: {exc}", status=400) from None
    if root.getroottree().docinfo.doctype:
        raise NoApplicableCode("XML with a document type declaration is not accepted", status=400)
    return root


def to_bytes(root: etree._Element) -> bytes:
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8")
