#!/usr/bin/env python3
"""Summarize a `gateway-conformance test --json-output FILE` report.

The report is `go tool test2json -t` NDJSON (one event per line):
  {"Time":..., "Action":"start|run|output|pass|fail|skip|pause|cont|bench",
   "Package":"Gateway Tests", "Test":"TestFunc/Case/Check", "Output":"...", "Elapsed":secs}
gateway-conformance renames the package-level (no "Test" key) pass/fail to suite_pass/suite_fail.

Test names are nested:  TestFunc / <test case> / <check>[/<sub-check>]
  * TestFunc  : Go test function, gated by spec presets (RunWithSpecs); skipped as a whole when
                its specs are disabled.
  * test case : one SugarTest (one HTTP request or request sequence) -> the unit we count.
  * check     : one assertion (Status code, Header X, Body...) -> counted as "checks".
A TestFunc with no test-case children (e.g. skipped by spec gating) counts as one test case.
Each TestFunc is mapped to spec presets by reading the suite source (tests/*.go: specs.X
referenced inside the function, and tooling/specs/specs.go for X -> preset name).

usage: summarize.py REPORT.json SUITE_HOME OUTDIR [SPEC,SPEC...]
writes OUTDIR/summary.txt, OUTDIR/summary.json, OUTDIR/failures.txt; prints the final line
  conformance: N passed, M failed, K skipped
(totals over the selected top-level specs only, default trustless-gateway,path-gateway).
"""
import collections
import glob
import json
import os
import re
import sys

report, home, outdir = sys.argv[1:4]
selected = (sys.argv[4] if len(sys.argv) > 4 else "trustless-gateway,path-gateway").split(",")
selected = [s for s in selected if s and s[0] not in "+-"] or ["trustless-gateway", "path-gateway"]

# --- spec map from the suite's source -----------------------------------------------------------
specs_go = open(os.path.join(home, "tooling/specs/specs.go")).read()
leaf_name = dict(re.findall(r'(\w+)\s*=\s*Leaf\{"([^"]+)"', specs_go))
collections_src = re.findall(r'(\w+)\s*=\s*Collection\{"([^"]+)",\s*\[\]Spec\{([^}]*)\}', specs_go)
leaf_to_coll = {}
for _var, cname, kids in collections_src:
    for k in re.findall(r"\w+", kids):
        if k in leaf_name:
            leaf_to_coll.setdefault(leaf_name[k], cname)

func_leaves = {}
for f in sorted(glob.glob(os.path.join(home, "tests/*_test.go"))):
    src = open(f).read()
    parts = re.split(r"(?m)^func (Test\w+)\(t \*testing\.T\)", src)
    for name, body in zip(parts[1::2], parts[2::2]):
        func_leaves[name] = sorted({leaf_name[v] for v in re.findall(r"specs\.(\w+)", body) if v in leaf_name})


def spec_of(func):
    colls = sorted({leaf_to_coll.get(l, l) for l in func_leaves.get(func, [])})
    return colls[0] if len(colls) == 1 else "other"


def leaves_of(func):
    return "+".join(func_leaves.get(func, [])) or "none"


# --- read events ---------------------------------------------------------------------------------
status, started, output = {}, [], collections.defaultdict(list)
suite = None
n_events = 0
with open(report) as fh:
    for line in fh:
        line = line.strip()
        if not line:
            continue
        try:
            e = json.loads(line)
        except ValueError:
            continue
        n_events += 1
        a, t = e.get("Action"), e.get("Test")
        if t is None:
            if a in ("suite_pass", "suite_fail", "pass", "fail", "skip"):
                suite = a
            continue
        if a == "run" and t not in status:
            started.append(t)
            status[t] = None
        elif a in ("pass", "fail", "skip"):
            if t not in status:
                started.append(t)
            status[t] = a
        elif a == "output":
            output[t].append(e.get("Output", ""))
# tests that started but never finished (timeout, panic) count as failed
for t in started:
    if status[t] is None:
        status[t] = "fail"

children = collections.defaultdict(list)
for t in started:
    if "/" in t:
        children[t.rsplit("/", 1)[0]].append(t)


def leaves_under(t):
    if not children[t]:
        return [t]
    out = []
    for c in children[t]:
        out += leaves_under(c)
    return out


zero = lambda: {"passed": 0, "failed": 0, "skipped": 0}
word = {"pass": "passed", "fail": "failed", "skip": "skipped"}
by_spec = collections.defaultdict(zero)
by_leaf = collections.defaultdict(zero)
checks = collections.defaultdict(zero)
funcs = collections.defaultdict(lambda: collections.defaultdict(zero))
failing = []  # (spec, case name, [error lines])

for top in [t for t in started if "/" not in t]:
    spec, leaf = spec_of(top), leaves_of(top)
    cases = children[top] or [top]
    for case in cases:
        w = word[status[case]]
        by_spec[spec][w] += 1
        by_leaf[leaf][w] += 1
        funcs[spec][top][w] += 1
        for chk in leaves_under(case):
            checks[spec][word[status[chk]]] += 1
        if status[case] == "fail":
            errs = []
            for chk in leaves_under(case):
                if status[chk] != "fail":
                    continue
                msg = [l.strip() for l in output[chk] if l.strip().startswith("Error")]
                errs.append((chk[len(case) + 1:] or "-") + ": " + (" | ".join(msg)[:300] or "(no Error line)"))
            failing.append((spec, case, errs))

tot = zero()
for s in selected:
    for k in tot:
        tot[k] += by_spec[s][k]

os.makedirs(outdir, exist_ok=True)
final = f"conformance: {tot['passed']} passed, {tot['failed']} failed, {tot['skipped']} skipped"
fmt = lambda d: f"passed={d['passed']} failed={d['failed']} skipped={d['skipped']}"
with open(os.path.join(outdir, "summary.txt"), "w") as o:
    o.write("# gateway-conformance summary; unit = test case (TestFunc/Case); checks = leaf assertions\n")
    o.write(f"# report={report} events={n_events} suite={suite}\n")
    for s in selected + sorted(set(by_spec) - set(selected)):
        o.write(f"SPEC {s} {fmt(by_spec[s])} checks_{fmt(checks[s]).replace(' ', ' checks_')}\n")
    for l in sorted(by_leaf):
        o.write(f"PRESET {l} {fmt(by_leaf[l])}\n")
    for s in sorted(funcs):
        for f in sorted(funcs[s]):
            o.write(f"FUNC {s} {f} {fmt(funcs[s][f])}\n")
    for s, case, _ in failing:
        if s in selected:
            o.write(f"FAIL {s} {case}\n")
    o.write(f"TOTAL {fmt(tot)}\n")
    o.write(final + "\n")
with open(os.path.join(outdir, "failures.txt"), "w") as o:
    for s, case, errs in failing:
        if s in selected:
            o.write(f"{s} {case}\n")
            for e in errs:
                o.write(f"    {e}\n")
with open(os.path.join(outdir, "summary.json"), "w") as o:
    json.dump({"selected": selected, "total": tot, "suite": suite,
               "specs": by_spec, "presets": by_leaf, "checks": checks,
               "functions": funcs,
               "failing": [{"spec": s, "test": c, "errors": e} for s, c, e in failing if s in selected]},
              o, indent=1, sort_keys=True)
if not started:
    print("summarize.py: no test events in report (build failure?)", file=sys.stderr)
    print(final)
    sys.exit(2)
print(final)
