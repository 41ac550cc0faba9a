// A bar chart drawn as SVG by hand (no library): one group of bars per label, one bar per
// series, values written above the bars. Text goes in with textContent only.
import { el } from "./app.js";

/**
 * @param labels   the groups' names (e.g. pile ids)
 * @param series   [{name, values: number[], className}] (one value per label)
 * @returns an <svg> element, scaled to its container by its viewBox
 */
export function barChart(labels, series) {
  const width = 640;
  const height = 240;
  const top = 24;
  const bottom = 28;
  const left = 8;
  const plot = height - top - bottom;
  const groupWidth = (width - left * 2) / Math.max(1, labels.length);
  const barWidth = Math.min(40, (groupWidth - 12) / Math.max(1, series.length));
  const svg = el("svg", { viewBox: `0 0 ${width} ${height}`, role: "img", "aria-label": "报表图" });
  svg.append(el("line", { svg: true, x1: left, x2: width - left, y1: top + plot, y2: top + plot, className: "axis" }));
  series.forEach((s, si) => {
    const max = Math.max(...s.values, 0) || 1;
    labels.forEach((label, i) => {
      const v = s.values[i] || 0;
      const h = Math.round((v / max) * (plot - 14));
      const x = left + i * groupWidth + (groupWidth - barWidth * series.length) / 2 + si * barWidth;
      svg.append(el("rect", { svg: true, x, y: top + plot - h, width: barWidth - 2, height: h, className: `bar ${s.className}` }));
      svg.append(el("text", { svg: true, x: x + barWidth / 2, y: top + plot - h - 4, className: "value", "text-anchor": "middle", text: v.toFixed(2) }));
    });
  });
  labels.forEach((label, i) => {
    svg.append(el("text", { svg: true, x: left + i * groupWidth + groupWidth / 2, y: height - 8, "text-anchor": "middle", className: "label", text: label }));
  });
  series.forEach((s, si) => {
    svg.append(el("rect", { svg: true, x: left + si * 120, y: 4, width: 12, height: 12, className: `bar ${s.className}` }));
    svg.append(el("text", { svg: true, x: left + si * 120 + 16, y: 14, className: "legend", text: s.name }));
  });
  return svg;
}
