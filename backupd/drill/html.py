"""A drill report as one self-contained HTML page (report.html). Pure: DrillReport in, text out.

The page has no external asset and no script: its CSS is inline, and a Content
Security Policy forbids loading anything, so it opens the same from a bucket, a
mail attachment or a laptop without a network. Everything from the backup (names,
reasons, events) is HTML-escaped. The verdict is a coloured banner at the top with
the RTO and RPO beside it, so the answer is on the first screen.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from html import escape as _escape

from backupd.api.drill import DrillReport, WorkloadReadiness
from backupd.drill import summary

PASS_COLOUR = "#1a7f37"  # the banner of a passed drill (tests look for it on screen)
FAIL_COLOUR = "#cf222e"

_CSS = f"""
*{{box-sizing:border-box}}
body{{margin:0;font:15px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;
color:#1f2328;background:#f6f8fa}}
.banner{{display:flex;flex-wrap:wrap;align-items:stretch;gap:16px;padding:28px 40px;color:#fff}}
.banner.pass{{background:{PASS_COLOUR}}}
.banner.fail{{background:{FAIL_COLOUR}}}
.verdict{{flex:1 1 360px;min-width:0}}
.verdict .what{{font-size:15px;opacity:.9;text-transform:uppercase;letter-spacing:.08em}}
.verdict .word{{display:block;font-size:72px;font-weight:800;line-height:1.05;
letter-spacing:.02em}}
.verdict .name{{display:block;font-size:18px;overflow-wrap:anywhere;opacity:.95}}
.metric{{flex:0 0 auto;min-width:220px;background:rgba(255,255,255,.16);border-radius:10px;
padding:14px 18px}}
.metric .label{{display:block;font-size:14px;text-transform:uppercase;letter-spacing:.08em}}
.metric .value{{display:block;font-size:40px;font-weight:700;line-height:1.15;
white-space:nowrap}}
.metric .sub{{display:block;font-size:13px;opacity:.9}}
main{{max-width:1200px;margin:0 auto;padding:8px 40px 40px}}
section{{background:#fff;border:1px solid #d0d7de;border-radius:10px;padding:16px 22px;
margin:18px 0}}
h2{{font-size:19px;margin:0 0 10px}}
dl.facts{{display:grid;grid-template-columns:max-content 1fr;gap:4px 18px;margin:0}}
dl.facts dt{{color:#57606a}}
dl.facts dd{{margin:0;overflow-wrap:anywhere}}
.rtobar{{display:flex;height:14px;border-radius:7px;overflow:hidden;background:#eaeef2;
margin:10px 0 2px}}
.rtobar .restore{{background:#0969da}}
.rtobar .readiness{{background:#8250df}}
.legend{{font-size:13px;color:#57606a}}
.legend .dot{{display:inline-block;width:10px;height:10px;border-radius:5px;margin:0 4px 0 12px}}
ul.problems{{margin:0;padding-left:20px}}
ul.problems li{{margin:6px 0;overflow-wrap:anywhere}}
.blocks{{color:{FAIL_COLOUR};font-weight:600}}
.ok{{color:{PASS_COLOUR};font-weight:600}}
table{{border-collapse:collapse;width:100%;font-size:14px}}
th,td{{text-align:left;padding:6px 10px;border-bottom:1px solid #eaeef2;vertical-align:top;
overflow-wrap:anywhere}}
th{{background:#f6f8fa;font-weight:600}}
td.num{{text-align:right;font-variant-numeric:tabular-nums}}
tr.stuck td{{background:#fff5f5}}
.state{{font-weight:600}}
.state.ready{{color:{PASS_COLOUR}}}
.state.notready{{color:{FAIL_COLOUR}}}
ul.events{{margin:4px 0 0;padding-left:18px;font:12px/1.4 ui-monospace,Menlo,Consolas,monospace;
color:#57606a}}
ol.timeline{{list-style:none;margin:0;padding:0;border-left:3px solid #d0d7de}}
ol.timeline li{{position:relative;padding:4px 0 8px 18px}}
ol.timeline li::before{{content:"";position:absolute;left:-8px;top:10px;width:13px;height:13px;
border-radius:7px;background:#57606a;border:2px solid #fff}}
ol.timeline .at{{font:13px ui-monospace,Menlo,Consolas,monospace;color:#57606a}}
ol.timeline .step{{display:inline-block;min-width:86px;font-weight:600}}
footer{{text-align:center;color:#57606a;font-size:12px;padding:0 0 24px}}
"""

_CSP = "default-src 'none'; style-src 'unsafe-inline'; img-src data:; form-action 'none'"


def escape(text: object) -> str:
    """Untrusted text as HTML (quotes too, so it is safe in an attribute)."""
    return _escape(summary.clean(text), quote=True)


def _table(header: Sequence[str], rows: Iterable[str], numeric: Sequence[bool]) -> str:
    cells = "".join(
        f"<th{' class=num' if num else ''}>{escape(h)}</th>"
        for h, num in zip(header, numeric, strict=True)
    )
    return f"<table><thead><tr>{cells}</tr></thead><tbody>{''.join(rows)}</tbody></table>"


def _banner(report: DrillReport) -> str:
    word = summary.verdict_word(report)
    times = report.times
    split = (
        f"restore {summary.duration(times.restore_seconds)}, "
        f"readiness {summary.duration(times.readiness_seconds)}"
    )
    rto_sub = split if times.rto_seconds is not None else "the app did not come back"
    return (
        f'<header id="verdict" class="banner {"pass" if report.passed else "fail"}">'
        f'<div class="verdict"><span class="what">Restore drill</span>'
        f'<span class="word" id="verdict-word">{word}</span>'
        f'<span class="name">{escape(report.metadata.name)} &middot; '
        f"{escape(summary.source(report))}</span></div>"
        f'<div class="metric" id="rto"><span class="label">RTO</span>'
        f'<span class="value">{escape(summary.rto(report))}</span>'
        f'<span class="sub">{escape(rto_sub)}</span></div>'
        f'<div class="metric" id="rpo"><span class="label">RPO</span>'
        f'<span class="value">{escape(summary.rpo(report))}</span>'
        f'<span class="sub">backup age at the start</span></div></header>'
    )


def _rto_bar(report: DrillReport) -> str:
    restore, ready = report.times.restore_seconds, report.times.readiness_seconds
    total = restore + ready
    if total <= 0:
        return ""
    return (
        f'<div class="rtobar" title="restore and readiness">'
        f'<div class="restore" style="width:{100 * restore / total:.1f}%"></div>'
        f'<div class="readiness" style="width:{100 * ready / total:.1f}%"></div></div>'
        f'<div class="legend"><span class="dot" style="background:#0969da"></span>restore '
        f"{escape(summary.duration(restore))}"
        f'<span class="dot" style="background:#8250df"></span>readiness '
        f"{escape(summary.duration(ready))}</div>"
    )


def _facts(report: DrillReport) -> str:
    facts = [
        ("Source", summary.source(report)),
        ("Backup completed", summary.timestamp(report.backup_completed)),
        ("Target", summary.target(report)),
        ("Started", summary.timestamp(report.started)),
        ("Finished", summary.timestamp(report.finished)),
        ("Verified", f"{'yes' if report.verified else 'no'}: {summary.verification(report)}"),
        ("Restore", summary.restore_counts(report)),
        ("Readiness", summary.ready_count(report)),
        (
            "Not in the RTO",
            f"verification {summary.duration(report.times.verify_seconds)}, cluster start "
            f"{summary.duration(report.times.cluster_seconds)}",
        ),
    ]
    if report.restore_name:
        facts.append(("Restore name", report.restore_name))
    facts += [("Note", notice) for notice in report.notices]
    rows = "".join(f"<dt>{escape(k)}</dt><dd>{escape(v)}</dd>" for k, v in facts)
    facts_list = f'<dl class="facts">{rows}</dl>'
    return f'<section id="summary"><h2>Summary</h2>{facts_list}{_rto_bar(report)}</section>'


def _problems(report: DrillReport) -> str:
    items: list[str] = []
    for p in report.problems:
        blocks = f' <span class="blocks">blocks {escape(p.blocks)}</span>' if p.blocks else ""
        items.append(f"<li>{escape(p.message)}{blocks}</li>")
    if not items:
        items = [f"<li>{escape(line)}</li>" for line in summary.problems(report)]
    body = (
        f'<ul class="problems">{"".join(items)}</ul>'
        if items
        else '<p class="ok">Nothing failed.</p>'
    )
    return f'<section id="problems"><h2>What failed and why</h2>{body}</section>'


def _namespaces(report: DrillReport) -> str:
    if not report.namespaces:
        return '<section id="namespaces"><h2>Namespaces</h2><p>No namespace recorded.</p></section>'
    rows = []
    for n in report.namespaces:
        stuck = n.failed > 0 or n.workloads_ready < n.workloads
        numbers = (n.items, n.created, n.unchanged, n.skipped, n.failed)
        cells = "".join(f'<td class="num">{v}</td>' for v in numbers)
        rows.append(
            f"<tr{' class=stuck' if stuck else ''}><td>{escape(n.namespace or '(cluster-scoped)')}"
            f'</td>{cells}<td class="num">{n.workloads_ready}/{n.workloads}</td></tr>'
        )
    header = ("Namespace", "Items", "Created", "Unchanged", "Skipped", "Failed", "Ready")
    table = _table(header, rows, (False, True, True, True, True, True, True))
    return f'<section id="namespaces"><h2>Namespaces</h2>{table}</section>'


def _workload_row(w: WorkloadReadiness) -> str:
    state = "ready" if w.ready else "notready"
    events = ""
    if w.events and not w.ready:
        events = '<ul class="events">' + "".join(f"<li>{escape(e)}</li>" for e in w.events)
        events += "</ul>"
    after = summary.duration(w.seconds_to_ready) if w.ready else "-"
    return (
        f"<tr{' class=stuck' if not w.ready and w.was_ready else ''}>"
        f"<td>{escape(summary.workload(w))}</td>"
        f'<td><span class="state {state}">{escape(summary.workload_state(w))}</span></td>'
        f'<td class="num">{escape(after)}</td>'
        f"<td>{escape(w.reason or '')}{events}</td></tr>"
    )


def _workloads(report: DrillReport) -> str:
    if not report.workloads:
        return '<section id="workloads"><h2>Workloads</h2><p>No workload recorded.</p></section>'
    ordered = sorted(report.workloads, key=lambda w: (w.ready, not w.was_ready))  # stuck first
    rows = [_workload_row(w) for w in ordered]
    table = _table(
        ("Workload", "State", "Ready after", "Why not / events"),
        rows,
        (False, False, True, False),
    )
    return f'<section id="workloads"><h2>Workloads</h2>{table}</section>'


def _timeline(report: DrillReport) -> str:
    entries = summary.timeline(report)
    if not entries:
        return '<section id="timeline"><h2>Timeline</h2><p>No timeline recorded.</p></section>'
    items = "".join(
        f'<li><span class="at">{escape(summary.timestamp(e.at))} '
        f"({escape(summary.offset(report, e))})</span><br>"
        f'<span class="step">{escape(e.step)}</span> {escape(e.message)}</li>'
        for e in entries
    )
    return f'<section id="timeline"><h2>Timeline</h2><ol class="timeline">{items}</ol></section>'


def render(report: DrillReport) -> str:
    """The whole page."""
    title = f"Restore drill {report.metadata.name}: {summary.verdict_word(report)}"
    body = (
        _banner(report)
        + "<main>"
        + _problems(report)
        + _facts(report)
        + _namespaces(report)
        + _workloads(report)
        + _timeline(report)
        + "</main>"
        + f"<footer>backupd drill report &middot; {escape(summary.timestamp(report.finished))}"
        + "</footer>"
    )
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        f'<meta http-equiv="Content-Security-Policy" content="{_CSP}">'
        '<meta name="viewport" content="width=device-width,initial-scale=1">'
        f"<title>{escape(title)}</title><style>{_CSS}</style></head>"
        f"<body>{body}</body></html>\n"
    )
