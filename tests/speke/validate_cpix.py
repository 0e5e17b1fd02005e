#!/usr/bin/env python3
"""Validate CPIX documents independently of our Rust code.

For each FILE: (1) XSD validation with lxml against the DASH-IF schema shipped in PyPI `cpix`
(cpix/schema/cpix.xsd). That file predates CPIX 2.3, so by default the CPIX 2.3 deltas are
overlaid in memory (ContentKey@commonEncryptionScheme; kid/systemId/dependsOnKey as UUID
pattern; KeyPeriodFilter@periodId as IDREF) - pass --as-shipped to use the file untouched;
(2) parse with the package's own parser (cpix.parse: known system IDs, UUIDs, base64, scheme)
and its content checks (rule/DRMSystem kid -> ContentKey, periodId -> ContentKeyPeriod).
Prints "ok FILE" or the errors; exits 1 if any file fails.

  target/cpix-venv/bin/python tests/speke/validate_cpix.py [--as-shipped] FILE...
"""
import sys, warnings
from pathlib import Path

warnings.filterwarnings("ignore")  # cpix imports pkg_resources
import cpix
from lxml import etree

XS = "{http://www.w3.org/2001/XMLSchema}"
UUID_RE = "[A-Fa-f0-9]{8}-[A-Fa-f0-9]{4}-[A-Fa-f0-9]{4}-[A-Fa-f0-9]{4}-[A-Fa-f0-9]{12}"


def schema(as_shipped):
    xsd = etree.parse(str(Path(cpix.__file__).parent / "schema" / "cpix.xsd"))  # keeps base URL for imports
    if not as_shipped:
        root = xsd.getroot()
        uuid_t = etree.SubElement(root, XS + "simpleType", name="UUIDType")
        etree.SubElement(etree.SubElement(uuid_t, XS + "restriction", base="xs:string"), XS + "pattern", value=UUID_RE)
        root.insert(len(root.findall(XS + "import")), uuid_t)  # after the xs:import elements
        for attr in root.iter(XS + "attribute"):
            if attr.get("name") in ("kid", "systemId", "dependsOnKey"):
                attr.set("type", "cpix:UUIDType")
            if attr.get("name") == "periodId":
                attr.set("type", "xs:IDREF")
        ext = root.find(f"{XS}complexType[@name='ContentKeyType']//{XS}extension")
        etree.SubElement(ext, XS + "attribute", name="commonEncryptionScheme", type="xs:string", use="optional")
    return etree.XMLSchema(xsd)


def check(path, xsd):
    try:
        doc = etree.parse(path)
    except (etree.XMLSyntaxError, OSError) as e:
        return [f"not well-formed XML: {e}"]
    errors = [f"xsd: line {e.line}: {e.message}" for e in (xsd.error_log if not xsd.validate(doc) else [])]
    try:
        parsed = cpix.parse(doc.getroot())
        ok, content_errors = parsed.validate_content()
        errors += [f"content: {e}" for e in content_errors]
    except Exception as e:  # the package raises TypeError/ValueError/KeyError on bad values
        errors.append(f"cpix.parse: {type(e).__name__}: {e}")
    return errors


def main(argv):
    as_shipped = "--as-shipped" in argv
    files = [a for a in argv if a != "--as-shipped"]
    if not files:
        sys.exit(__doc__)
    xsd, failed = schema(as_shipped), 0
    for f in files:
        errors = check(f, xsd)
        failed += bool(errors)
        print(f"ok {f}" if not errors else f"FAIL {f}\n  " + "\n  ".join(errors))
    if failed:
        print(f"{failed} of {len(files)} file(s) invalid", file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main(sys.argv[1:])
