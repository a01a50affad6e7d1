// The instance timeline: pairs history events into spans (activity scheduled → completed or
// failed, timer created → fired, sub-orchestration created → completed or failed) and points
// (events raised and sent), and draws them as inline SVG. Text goes in with textContent only.
"use strict";

(function () {
  const SVG = "http://www.w3.org/2000/svg";
  const ROW = 22;
  const LABEL = 230;
  const AXIS = 26;
  /** The most rows drawn; a longer history draws its first ones and says so. */
  const MAX_ROWS = 400;

  const ms = (t) => (t ? Date.parse(t) : NaN);

  /** Spans and points from history events (as /api/v1/instances/{id}/history returns them). */
  function build(events, now) {
    const rows = [];
    const open = new Map(); // "kind:eventId" -> row
    const attempts = new Map(); // activity name -> count so far
    let start = NaN;
    let end = NaN;
    for (const e of events) {
      const t = ms(e.timestamp);
      const d = e.details || {};
      switch (e.type) {
        case "executionStarted":
          start = t;
          rows.unshift({ label: "orchestration " + (d.name || ""), kind: "orchestration", from: t, to: NaN });
          break;
        case "executionCompleted":
        case "executionTerminated":
          end = t;
          break;
        case "taskScheduled": {
          const n = (attempts.get(d.name) || 0) + 1;
          attempts.set(d.name, n);
          const row = { label: (d.name || "activity") + (n > 1 ? " #" + n : ""), kind: "activity", from: t, to: NaN };
          rows.push(row);
          open.set("task:" + e.eventId, row);
          break;
        }
        case "taskCompleted":
        case "taskFailed": {
          const row = open.get("task:" + d.taskScheduledId);
          if (row) {
            row.to = t;
            row.failed = e.type === "taskFailed";
          }
          break;
        }
        case "timerCreated": {
          const row = { label: "timer", kind: "timer", from: t, to: NaN, due: ms(d.fireAt) };
          rows.push(row);
          open.set("timer:" + e.eventId, row);
          break;
        }
        case "timerFired": {
          const row = open.get("timer:" + d.timerId);
          if (row) row.to = t;
          break;
        }
        case "subOrchestrationInstanceCreated": {
          const row = { label: "child " + (d.name || ""), kind: "child", from: t, to: NaN, child: d.instanceId };
          rows.push(row);
          open.set("child:" + e.eventId, row);
          break;
        }
        case "subOrchestrationInstanceCompleted":
        case "subOrchestrationInstanceFailed": {
          const row = open.get("child:" + d.taskScheduledId);
          if (row) {
            row.to = t;
            row.failed = e.type === "subOrchestrationInstanceFailed";
          }
          break;
        }
        case "eventRaised":
          rows.push({ label: "event " + (d.name || ""), kind: "point", from: t, to: t });
          break;
        case "eventSent":
          rows.push({ label: "sent " + (d.name || "") + " → " + (d.instanceId || ""), kind: "point", from: t, to: t });
          break;
        default:
          break;
      }
    }
    if (rows.length && rows[0].kind === "orchestration") rows[0].to = end;
    const finite = rows.flatMap((r) => [r.from, r.to, r.due]).filter(Number.isFinite);
    const lo = Number.isFinite(start) ? start : Math.min(...finite, now);
    const hi = Math.max(Number.isFinite(end) ? end : now, ...finite, lo + 1);
    return { rows, lo, hi, finished: Number.isFinite(end) };
  }

  function el(name, attrs, text) {
    const node = document.createElementNS(SVG, name);
    for (const [k, v] of Object.entries(attrs || {})) node.setAttribute(k, String(v));
    if (text !== undefined) node.textContent = text;
    return node;
  }

  function duration(msec) {
    if (msec < 1000) return Math.round(msec) + " ms";
    if (msec < 120000) return (msec / 1000).toFixed(msec < 10000 ? 2 : 1) + " s";
    if (msec < 7200000) return (msec / 60000).toFixed(1) + " min";
    return (msec / 3600000).toFixed(1) + " h";
  }

  /**
   * An SVG element drawing the timeline, or null when there is nothing to draw. `linkTo(id)`
   * gives the href of a child instance.
   */
  function render(events, now, linkTo) {
    const built = build(events, now);
    const { lo, hi, finished } = built;
    const rows = built.rows.slice(0, MAX_ROWS);
    if (!rows.length) return null;
    const width = 1100;
    const plot = width - LABEL - 20;
    const x = (t) => LABEL + ((t - lo) / (hi - lo)) * plot;
    const height = AXIS + rows.length * ROW + 8;
    const svg = el("svg", { viewBox: `0 0 ${width} ${height}`, width: "100%", role: "img", "aria-label": "Timeline" });
    svg.append(el("line", { class: "axis", x1: LABEL, x2: width - 20, y1: AXIS - 6, y2: AXIS - 6 }));
    for (let i = 0; i <= 4; i++) {
      const t = lo + ((hi - lo) * i) / 4;
      svg.append(el("text", { class: "tick", x: x(t), y: 12, "text-anchor": i === 0 ? "start" : i === 4 ? "end" : "middle" }, "+" + duration(t - lo)));
    }
    rows.forEach((r, i) => {
      const y = AXIS + i * ROW;
      const label = el("text", { x: 4, y: y + 14 }, r.label.length > 34 ? r.label.slice(0, 33) + "…" : r.label);
      if (r.child && linkTo) {
        const a = el("a", { href: linkTo(r.child) });
        a.append(label);
        svg.append(a);
      } else {
        svg.append(label);
      }
      const title = el("title", {}, r.label);
      if (r.kind === "point") {
        const p = el("circle", { class: "point", cx: x(r.from), cy: y + 10, r: 5 });
        p.append(title);
        svg.append(p);
        return;
      }
      const isOpen = !Number.isFinite(r.to);
      const to = isOpen ? (r.kind === "timer" && Number.isFinite(r.due) ? Math.max(r.due, now) : finished ? hi : now) : r.to;
      const classes = ["span", r.kind];
      if (isOpen) classes.push("open");
      else if (r.failed) classes.push("failed");
      else if (r.kind === "activity") classes.push("done");
      const rect = el("rect", {
        class: classes.join(" "),
        x: x(r.from),
        y: y + 4,
        width: Math.max(3, x(to) - x(r.from)),
        height: ROW - 8,
        rx: 3,
      });
      title.textContent = r.label + (isOpen ? " (open)" : " — " + duration(r.to - r.from)) + (r.failed ? " — failed" : "");
      rect.append(title);
      svg.append(rect);
    });
    if (!finished) {
      svg.append(el("line", { class: "now", x1: x(now), x2: x(now), y1: AXIS - 6, y2: height }));
    }
    if (built.rows.length > rows.length) {
      const note = el("text", { class: "tick", x: 4, y: 12 }, `first ${rows.length} of ${built.rows.length} spans`);
      svg.append(note);
    }
    return svg;
  }

  window.DtTimeline = { build, render, duration };
})();
