"""Schema validation for tests, offline: the OGC schemas are copied in ``ogc-schemas/``."""

from __future__ import annotations

import importlib.util
from pathlib import Path

_SPEC = importlib.util.spec_from_file_location(
    "ogc_schemas_validate", Path(__file__).parent / "ogc-schemas" / "validate.py"
)
assert _SPEC is not None and _SPEC.loader is not None
_validate = importlib.util.module_from_spec(_SPEC)
_SPEC.loader.exec_module(_validate)

#: ``validate(xml_bytes) -> [errors]``; the root's namespace picks the schema.
validate = _validate.validate


def assert_valid(document: bytes) -> None:
    """Fail with the schema's error messages (and the document) when it is not valid."""
    errors = validate(document)
    assert not errors, "\n".join([*errors[:20], document.decode("utf-8", "replace")[:4000]])
