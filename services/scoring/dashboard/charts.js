// Small inline-SVG charts for the dashboard: no library, no network. Each function redraws its
// <svg> from scratch (a dozen shapes each: cheap), and marks shapes whose value changed with the
// class "flash" so operators see what moved since the last update.
"use strict";

(function () {
  const NS = "http://www.w3.org/2000/svg";
  const ASPECT_COLOURS = ["#3b6fb6", "#e08a2e", "#3c9a5f", "#8e5bb5", "#c9474d"];

  function el(name, attrs, text) {
    const node = document.createElementNS(NS, name);
    for (const [k, v] of Object.entries(attrs || {})) node.setAttribute(k, String(v));
    if (text !== undefined) node.textContent = text;
    return node;
  }

  function clear(svg) {
    while (svg.firstChild) svg.removeChild(svg.firstChild);
  }

  function box(svg) {
    const [, , w, h] = svg.getAttribute("viewBox").split(/\s+/).map(Number);
    return { w, h };
  }

  function fmt(v, digits) {
    return v === null || v === undefined ? "–" : Number(v).toFixed(digits === undefined ? 1 : digits);
  }

  // Semi-circular gauge: value out of max, with a tick at the pass line.
  function gauge(svg, value, max, passLine, label) {
    clear(svg);
    const cx = 110, cy = 112, r = 92;
    const point = (share) => {
      const a = Math.PI * (1 - Math.max(0, Math.min(1, share)));
      return [cx + r * Math.cos(a), cy - r * Math.sin(a)];
    };
    const arc = (from, to) => {
      const [x0, y0] = point(from), [x1, y1] = point(to);
      return `M ${x0} ${y0} A ${r} ${r} 0 0 1 ${x1} ${y1}`;
    };
    svg.appendChild(el("path", { d: arc(0, 1), class: "gauge-track" }));
    const share = max > 0 ? value / max : 0;
    const ok = value >= passLine;
    svg.appendChild(el("path", { d: arc(0, Math.max(0.001, share)), class: "gauge-value " + (ok ? "ok" : "low") }));
    const [px, py] = point(passLine / max);
    svg.appendChild(el("circle", { cx: px, cy: py, r: 4, class: "gauge-pass" }));
    // The label sits outside the arc, on the line from the centre through the tick.
    const lx = cx + ((px - cx) * (r + 14)) / r, ly = cy + ((py - cy) * (r + 14)) / r;
    svg.appendChild(el("text", { x: lx, y: ly, class: "tick", "text-anchor": "start" }, `${label} ${fmt(passLine, 0)}`));
    svg.appendChild(el("text", { x: cx, y: cy - 14, class: "gauge-number", "text-anchor": "middle" }, fmt(value)));
  }

  // Horizontal bars: rows [{key, label, value, max, note}], a dashed line at `passLine`.
  // Rows share the height, but a few rows (a community worker sees their community only) stay bars,
  // not blocks filling the chart.
  function barHeight(space, n) {
    return Math.min(30, Math.max(18, Math.floor(space / Math.max(1, n))));
  }

  function hbars(svg, rows, opts) {
    clear(svg);
    const { w } = box(svg);
    const left = 78, right = 150, top = 8, rowH = barHeight(box(svg).h - top - 20, rows.length);
    const width = w - left - right;
    const max = opts.max;
    rows.forEach((row, i) => {
      const y = top + i * rowH;
      const g = el("g", { class: "bar-row" + (row.selected ? " selected" : ""), "data-community": row.key, tabindex: 0 });
      g.appendChild(el("text", { x: left - 8, y: y + rowH * 0.62, class: "label", "text-anchor": "end" }, row.label));
      g.appendChild(el("rect", { x: left, y: y + 3, width: width, height: rowH - 6, class: "bar-bg" }));
      const bw = Math.max(0, Math.min(1, row.value / max)) * width;
      const cls = "bar " + (row.value >= opts.passLine ? "ok" : "low") + (row.changed ? " flash" : "");
      g.appendChild(el("rect", { x: left, y: y + 3, width: bw, height: rowH - 6, class: cls }));
      g.appendChild(el("text", { x: left + width + 6, y: y + rowH * 0.62, class: "total" + (row.changed ? " flash" : "") }, fmt(row.value)));
      if (row.note) g.appendChild(el("text", { x: left + width + 48, y: y + rowH * 0.62, class: "note" }, row.note));
      if (opts.onSelect) {
        g.addEventListener("click", () => opts.onSelect(row.key));
        g.addEventListener("keydown", (e) => { if (e.key === "Enter") opts.onSelect(row.key); });
      }
      svg.appendChild(g);
    });
    const px = left + (opts.passLine / max) * width;
    const bottom = top + rows.length * rowH;
    svg.appendChild(el("line", { x1: px, x2: px, y1: top, y2: bottom, class: "pass-line" }));
    svg.appendChild(el("text", { x: px, y: bottom + 14, class: "tick", "text-anchor": "middle" }, `${opts.passLabel} ${fmt(opts.passLine, 0)}`));
  }

  // Stacked horizontal bars: rows [{key, label, parts: [value per aspect], changed: [bool]}].
  function stacked(svg, rows, opts) {
    clear(svg);
    const { w, h } = box(svg);
    const left = 78, right = 50, top = 8, rowH = barHeight(h - top - 20, rows.length);
    const width = w - left - right;
    rows.forEach((row, i) => {
      const y = top + i * rowH;
      const g = el("g", { class: "stack-row", "data-community": row.key });
      g.appendChild(el("text", { x: left - 8, y: y + rowH * 0.62, class: "label", "text-anchor": "end" }, row.label));
      let x = left;
      row.parts.forEach((v, j) => {
        const pw = Math.max(0, v / opts.max) * width;
        const rect = el("rect", {
          x, y: y + 3, width: pw, height: rowH - 6, fill: ASPECT_COLOURS[j % ASPECT_COLOURS.length],
          class: "seg" + (row.changed && row.changed[j] ? " flash" : ""), "data-aspect": opts.aspects[j].id,
        });
        rect.appendChild(el("title", {}, `${row.label} · ${opts.aspects[j].label}: ${fmt(v, 2)} / ${fmt(opts.aspects[j].max, 0)}`));
        g.appendChild(rect);
        x += pw;
      });
      g.appendChild(el("text", { x: x + 6, y: y + rowH * 0.62, class: "total" }, fmt(row.parts.reduce((a, b) => a + b, 0))));
      svg.appendChild(g);
    });
  }

  // Line chart: points [{label, y}] in order; axis from `min` to `max`.
  function line(svg, points, opts) {
    clear(svg);
    const { w, h } = box(svg);
    const left = 36, right = 12, top = 10, bottom = 22;
    const lo = opts.min, hi = opts.max;
    const xs = (i) => left + (points.length <= 1 ? (w - left - right) / 2 : (i * (w - left - right)) / (points.length - 1));
    const ys = (v) => top + (1 - (v - lo) / Math.max(1e-9, hi - lo)) * (h - top - bottom);
    for (const v of opts.ticks || []) {
      svg.appendChild(el("line", { x1: left, x2: w - right, y1: ys(v), y2: ys(v), class: "grid" }));
      svg.appendChild(el("text", { x: left - 4, y: ys(v) + 4, class: "tick", "text-anchor": "end" }, fmt(v, 0)));
    }
    if (opts.passLine !== undefined) {
      svg.appendChild(el("line", { x1: left, x2: w - right, y1: ys(opts.passLine), y2: ys(opts.passLine), class: "pass-line" }));
    }
    if (points.length > 1) {
      const d = points.map((p, i) => `${i ? "L" : "M"} ${xs(i).toFixed(1)} ${ys(p.y).toFixed(1)}`).join(" ");
      svg.appendChild(el("path", { d, class: "trend-line" }));
    }
    points.forEach((p, i) => {
      if (points.length <= 40 || i === points.length - 1) {
        const c = el("circle", { cx: xs(i), cy: ys(p.y), r: i === points.length - 1 ? 4 : 2.5, class: "trend-dot" });
        c.appendChild(el("title", {}, `${p.label}: ${fmt(p.y, 2)}`));
        svg.appendChild(c);
      }
    });
    if (points.length) {
      const first = points[0], last = points[points.length - 1];
      svg.appendChild(el("text", { x: left, y: h - 6, class: "tick" }, first.label));
      if (points.length > 1) svg.appendChild(el("text", { x: w - right, y: h - 6, class: "tick", "text-anchor": "end" }, last.label));
      svg.appendChild(el("text", { x: xs(points.length - 1) - 6, y: ys(last.y) - 8, class: "tick strong", "text-anchor": "end" }, fmt(last.y, 2)));
    }
  }

  // English aspect names are long: break them into lines at word boundaries (CJK stays on one line).
  function wrap(label, width) {
    const lines = [];
    for (const word of label.split(" ")) {
      const last = lines[lines.length - 1];
      if (last !== undefined && (last + " " + word).length <= width) lines[lines.length - 1] = last + " " + word;
      else lines.push(word);
    }
    return lines;
  }

  // Radar of the five aspects as shares of their maxima.
  function radar(svg, axes) {
    clear(svg);
    const cx = 200, cy = 140, r = 84, n = axes.length;
    const at = (i, share) => {
      const a = -Math.PI / 2 + (2 * Math.PI * i) / n;
      return [cx + r * share * Math.cos(a), cy + r * share * Math.sin(a)];
    };
    for (const ring of [0.25, 0.5, 0.75, 1]) {
      const pts = axes.map((_, i) => at(i, ring).map((v) => v.toFixed(1)).join(",")).join(" ");
      svg.appendChild(el("polygon", { points: pts, class: "radar-ring" }));
    }
    axes.forEach((ax, i) => {
      const [x, y] = at(i, 1);
      svg.appendChild(el("line", { x1: cx, y1: cy, x2: x, y2: y, class: "radar-axis" }));
      const [lx, ly] = at(i, 1.14);
      const anchor = Math.abs(lx - cx) < 8 ? "middle" : lx > cx ? "start" : "end";
      const lines = wrap(ax.label, 14);
      const text = el("text", { x: lx, y: ly + 4 - (ly < cy ? 13 * (lines.length - 1) : 0), class: "label", "text-anchor": anchor, fill: ASPECT_COLOURS[i] });
      lines.forEach((line, k) => text.appendChild(el("tspan", { x: lx, dy: k ? 13 : 0 }, line)));
      svg.appendChild(text);
    });
    const pts = axes.map((ax, i) => at(i, ax.max > 0 ? Math.min(1, ax.value / ax.max) : 0).map((v) => v.toFixed(1)).join(","));
    svg.appendChild(el("polygon", { points: pts.join(" "), class: "radar-shape" }));
    axes.forEach((ax, i) => {
      const [x, y] = at(i, ax.max > 0 ? Math.min(1, ax.value / ax.max) : 0);
      const c = el("circle", { cx: x, cy: y, r: 3.5, fill: ASPECT_COLOURS[i], class: ax.changed ? "flash" : "" });
      c.appendChild(el("title", {}, `${ax.label}: ${fmt(ax.value, 2)} / ${fmt(ax.max, 0)}`));
      svg.appendChild(c);
    });
  }

  window.Charts = { gauge, hbars, stacked, line, radar, fmt, ASPECT_COLOURS };
})();
