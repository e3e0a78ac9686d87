"""JUnit XML for CI systems: one test case per output and per metric of each validated artifact."""
from __future__ import annotations

import xml.etree.ElementTree as ET


def junit_xml(reports: list[dict], suite: str = "edgetool.validate") -> str:
    cases = []
    for r in reports:
        if r.get("skipped"):
            cases.append((r["artifact"], "skipped", None, r["skipped"]))
            continue
        for o in r["outputs"]:
            msg = None if o["passed"] else (f"max_abs={o.get('max_abs')} max_rel={o.get('max_rel')} "
                                            f"atol={r['atol']} rtol={r['rtol']} {o.get('error', '')}").strip()
            cases.append((r["artifact"], f"{o['graph']}/{o['output']}", msg, None))
        m = r["metric"]
        cases.append((r["artifact"], f"metric/{m['name']}",
                      None if m["passed"] else f"{m['name']}={m['value']:.4f} < floor {m['floor']}", None))
    root = ET.Element("testsuites", name=suite)
    ts = ET.SubElement(root, "testsuite", name=suite, tests=str(len(cases)),
                       failures=str(sum(1 for c in cases if c[2])), skipped=str(sum(1 for c in cases if c[3])),
                       errors="0")
    for classname, name, failure, skipped in cases:
        tc = ET.SubElement(ts, "testcase", classname=classname, name=name, time="0")
        if failure:
            ET.SubElement(tc, "failure", message=failure.splitlines()[0][:200], type="ParityFailure").text = failure
        if skipped:
            ET.SubElement(tc, "skipped", message=skipped[:200])
    return ET.tostring(root, encoding="unicode", xml_declaration=True)
