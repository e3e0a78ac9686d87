"""JUnit XML for CI systems (GitHub Actions, GitLab, Jenkins): one test suite per validated artifact,
one test case per output tensor and one per task metric; a failed check is a <failure> with the
numbers, an artifact that cannot run here (e.g. TensorRT off-device) is a <skipped> case.

The structure follows the common JUnit schema (testsuites > testsuite > testcase > failure|skipped),
with tests/failures/errors/skipped/time counts on both the suites element and each suite."""
from __future__ import annotations

import datetime
import math
import platform
import xml.etree.ElementTree as ET


def _num(x) -> str:
    return "nan" if x is None else (str(x) if isinstance(x, float) and not math.isfinite(x) else f"{x:.6g}")


def _output_failure(o: dict) -> str:
    parts = [f"{o.get('stat', 'max')} of |got-ref|/(atol+rtol*|ref|) = {_num(o.get('score'))} > 1",
             f"max_abs={_num(o.get('max_abs'))}", f"mean_abs={_num(o.get('mean_abs'))}",
             f"max_rel={_num(o.get('max_rel'))}", f"cosine={_num(o.get('cosine'))}",
             f"atol={_num(o.get('atol'))}", f"rtol={_num(o.get('rtol'))}"]
    if o.get("worst"):
        parts.append(f"worst at sample {o['worst'][0]}, call {o['worst'][1] if len(o['worst']) > 1 else 0}")
    if o.get("error"):
        parts.insert(0, o["error"])
    return "; ".join(parts)


def _localize_text(loc: dict | None) -> str:
    if not loc:
        return ""
    from edgetool.check.compare import format_localize

    return "\n" + format_localize(loc)


def junit_xml(reports: list[dict], suite: str = "edgetool.validate", bundle: str | None = None) -> str:
    root = ET.Element("testsuites", name=suite)
    totals = {"tests": 0, "failures": 0, "errors": 0, "skipped": 0}
    total_time = 0.0
    stamp = datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")
    for r in reports:
        name = f"{bundle or r.get('bundle', '')}:{r['artifact']} vs {r.get('reference', 'golden')}".lstrip(":")
        cases: list[tuple[str, str | None, str | None]] = []  # (name, failure text, skipped text)
        if r.get("skipped"):
            cases.append((r["artifact"], None, r["skipped"]))
        else:
            loc = _localize_text(r.get("localize"))
            for o in r["outputs"]:
                informational = r.get("judged_by") == "metric" and not (
                    o.get("error") and o["error"] != "integer output differs")  # quantized: the metric judges
                fail = None if o["passed"] or informational else _output_failure(o) + loc
                cases.append((f"output {o['graph']}/{o['output']}", fail, None))
            m = r["metric"]
            cases.append((f"metric {m['name']}", None if m["passed"] else
                          f"{m['name']} = {m['value']:.6g} < floor {m['floor']:g} on {r.get('samples')} samples", None))
            a = r.get("answers")
            if a:
                from edgetool.check.answers import format_answers

                text = "\n".join(line.strip() for line in format_answers(a))
                cases.append((f"end-to-end answers vs {a.get('reference')}", text if a.get("passed") is False else None,
                              text if a.get("passed") is None else None))
        t = float(r.get("time_s") or 0.0)
        total_time += t
        counts = {"tests": len(cases), "failures": sum(1 for c in cases if c[1]), "errors": 0,
                  "skipped": sum(1 for c in cases if c[2])}
        ts = ET.SubElement(root, "testsuite", name=name, timestamp=stamp, hostname=platform.node() or "localhost",
                           time=f"{t:.3f}", **{k: str(v) for k, v in counts.items()})
        props = ET.SubElement(ts, "properties")
        for key in ("artifact", "precision", "reference", "inputs", "samples", "atol", "rtol", "stat"):
            if r.get(key) is not None:
                ET.SubElement(props, "property", name=key, value=str(r[key]))
        classname = f"edgetool.validate.{r['artifact'].replace('/', '.')}"
        per_case = f"{t / max(1, len(cases)):.3f}"
        for case, failure, skipped in cases:
            tc = ET.SubElement(ts, "testcase", classname=classname, name=case, time=per_case)
            if failure:
                ET.SubElement(tc, "failure", message=failure.splitlines()[0][:300], type="ParityFailure").text = failure
            if skipped:
                ET.SubElement(tc, "skipped", message=skipped.splitlines()[0][:300])
        for k in totals:
            totals[k] += counts[k]
    for k, v in totals.items():
        root.set(k, str(v))
    root.set("time", f"{total_time:.3f}")
    ET.indent(root)
    return ET.tostring(root, encoding="unicode", xml_declaration=True) + "\n"
