"""
Compares two JUnit reports of MLflow's live-server tests — one against Mobius, one
against MLflow's own server (MOBIUS_COMPAT_BASELINE=1) — and prints the counts and a
Markdown table of every case that did not pass on Mobius, with what MLflow did.

    python3 test/mlflow-compat/summarize.py /tmp/mlflow-compat.xml /tmp/mlflow-baseline.xml
"""

import sys
import xml.etree.ElementTree as ET


def outcomes(path):
    result = {}
    for case in ET.parse(path).iter("testcase"):
        name = f"{case.get('classname', '').split('.')[-1]}::{case.get('name')}"
        status, message = "passed", ""
        for child in case:
            if child.tag in ("failure", "error"):
                status, message = "failed", child.get("message") or child.text or ""
            elif child.tag == "skipped":
                kind = child.get("type") or ""
                status = "xfailed" if "xfail" in kind else "skipped"
                message = child.get("message") or ""
        result[name] = (status, " ".join(message.split())[:160])
    return result


def counts(result):
    tally = {}
    for status, _ in result.values():
        tally[status] = tally.get(status, 0) + 1
    return tally


def main():
    mobius = outcomes(sys.argv[1])
    baseline = outcomes(sys.argv[2]) if len(sys.argv) > 2 else {}
    print("mobius:", counts(mobius))
    if baseline:
        print("mlflow:", counts(baseline))
        both = [n for n, (s, _) in baseline.items() if s == "passed"]
        ok = [n for n in both if mobius.get(n, ("missing",))[0] == "passed"]
        print(f"of the {len(both)} cases MLflow's own server passes, Mobius passes {len(ok)}")
    print()
    print("| case | Mobius | MLflow | Mobius failure |")
    print("| --- | --- | --- | --- |")
    for name, (status, message) in sorted(mobius.items()):
        if status == "passed":
            continue
        peer = baseline.get(name, ("—", ""))[0]
        print(f"| `{name}` | {status} | {peer} | {message.replace('|', '/')} |")


if __name__ == "__main__":
    main()
