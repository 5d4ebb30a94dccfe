// Load page: site current per phase against the charging current, last 10 minutes, inline SVG.
// Fed by the "chargeos:live" event app.js dispatches every second (detail.raw = evse status);
// the history lives only in this tab (600 points). No library, no inline script (CSP).
"use strict";

(() => {
  const WINDOW_MS = 10 * 60 * 1000;
  const MAX_POINTS = 600;
  const GAP_MS = 3000; // no value for this long: the line breaks instead of bridging the gap
  const STALE_MS = 5000;
  const MIN_SPACING_MS = 900;
  const SVG = "http://www.w3.org/2000/svg";
  const MARGIN = { left: 44, right: 10, top: 10, bottom: 26 };
  const SERIES = [
    { key: "site-l1", pick: (raw) => phase(raw.site_currents_a, 0) },
    { key: "site-l2", pick: (raw) => phase(raw.site_currents_a, 1) },
    { key: "site-l3", pick: (raw) => phase(raw.site_currents_a, 2) },
    { key: "charging", pick: (raw) => (raw.meter ? Math.max(...raw.meter.currents_a) : null) },
    { key: "offered", pick: (raw) => raw.offered_current_a },
  ];

  function phase(values, index) {
    return Array.isArray(values) && typeof values[index] === "number" ? values[index] : null;
  }

  function amps(values) {
    if (!Array.isArray(values)) return null;
    return `${values.map((value) => value.toFixed(1)).join(" / ")} A`;
  }

  function node(name, attributes, text) {
    const element = document.createElementNS(SVG, name);
    for (const [key, value] of Object.entries(attributes)) element.setAttribute(key, String(value));
    if (text !== undefined) element.textContent = text;
    return element;
  }

  function niceStep(top) {
    for (const step of [1, 2, 5, 10, 20, 50, 100, 200, 500, 1000]) {
      if (top / step <= 6) return step;
    }
    return 2000;
  }

  class LiveChart {
    constructor(box) {
      this.box = box;
      this.plot = box.querySelector("[data-chart-plot]");
      this.status = box.querySelector("[data-chart-status]");
      this.siteLimit = Number.parseFloat(box.dataset.siteLimit) || 0;
      this.points = [];
      this.lastEvent = 0;
      document.addEventListener("chargeos:live", (event) => this.receive(event.detail || {}));
      setInterval(() => this.checkStale(), 1000);
    }

    receive(detail) {
      const now = Date.now();
      this.lastEvent = now;
      const raw = detail.raw;
      if (!raw) {
        this.say("Live chart: not available (the charging controller does not answer).");
        this.show("site", "not available");
        this.show("charging", "not available");
      } else {
        const point = { t: now, values: SERIES.map((series) => series.pick(raw)) };
        const last = this.points[this.points.length - 1];
        // live events may come faster than 1/s: one point a second keeps 600 points = 10 minutes
        if (last && now - last.t < MIN_SPACING_MS) last.values = point.values;
        else this.points.push(point);
        const site = amps(raw.site_currents_a);
        this.show("site", site || "not available (no site CT clamps reported)");
        this.show("charging", raw.meter ? amps(raw.meter.currents_a) : "not available (no meter reading)");
        this.say(site ? "" : "Site current: not available (no site CT clamps reported).");
      }
      this.trim(now);
      this.draw(now);
    }

    checkStale() {
      const now = Date.now();
      if (this.lastEvent && now - this.lastEvent > STALE_MS) {
        this.say("Live chart: not available (no live values from the charger).");
        this.show("site", "not available");
        this.show("charging", "not available");
      }
      this.trim(now);
      if (this.points.length) this.draw(now);
    }

    trim(now) {
      while (this.points.length && (this.points.length > MAX_POINTS || this.points[0].t < now - WINDOW_MS)) {
        this.points.shift();
      }
    }

    say(text) {
      if (this.status) this.status.textContent = text;
    }

    show(name, text) {
      this.box.querySelectorAll(`[data-chart-now="${name}"]`).forEach((element) => {
        element.textContent = text;
      });
    }

    draw(now) {
      // drawn at the box's own pixel size, so the axis text stays readable on a phone
      const width = Math.max(300, Math.round(this.plot.clientWidth || 640));
      const height = Math.round(Math.min(260, Math.max(180, width * 0.45)));
      const { left, right, top, bottom } = MARGIN;
      const plotWidth = width - left - right;
      const plotHeight = height - top - bottom;
      let highest = this.siteLimit;
      for (const point of this.points) {
        for (const value of point.values) if (value !== null && value > highest) highest = value;
      }
      const step = niceStep(Math.max(highest, 1) * 1.1);
      const ceiling = step * Math.ceil((Math.max(highest, 1) * 1.1) / step);
      const x = (t) => left + ((t - (now - WINDOW_MS)) / WINDOW_MS) * plotWidth;
      const y = (value) => top + plotHeight - (value / ceiling) * plotHeight;
      const svg = node("svg", {
        viewBox: `0 0 ${width} ${height}`,
        role: "img",
        "aria-label": "Site current per phase and charging current in amperes, last 10 minutes",
      });
      for (let value = 0; value <= ceiling; value += step) {
        svg.append(node("line", { x1: left, x2: width - right, y1: y(value), y2: y(value), class: "grid" }));
        svg.append(node("text", { x: left - 6, y: y(value) + 4, class: "axis", "text-anchor": "end" }, `${value} A`));
      }
      for (const [minutes, anchor] of [[10, "start"], [5, "middle"], [0, "end"]]) {
        const label = minutes ? `-${minutes} min` : "now";
        svg.append(node("text", { x: x(now - minutes * 60000), y: height - 6, class: "axis", "text-anchor": anchor }, label));
      }
      if (this.siteLimit > 0) {
        svg.append(node("line", { x1: left, x2: width - right, y1: y(this.siteLimit), y2: y(this.siteLimit), class: "limit" }));
      }
      SERIES.forEach((series, index) => {
        const path = this.path(index, x, y);
        if (path) svg.append(node("path", { d: path, class: `series ${series.key}` }));
      });
      this.plot.replaceChildren(svg);
    }

    path(index, x, y) {
      let commands = "";
      let previous = null;
      for (const point of this.points) {
        const value = point.values[index];
        if (value === null) {
          previous = null;
          continue;
        }
        const move = previous === null || point.t - previous > GAP_MS ? "M" : "L";
        commands += `${move}${x(point.t).toFixed(1)},${y(value).toFixed(1)} `;
        previous = point.t;
      }
      return commands.trim();
    }
  }

  function start() {
    const box = document.querySelector("[data-chart]");
    if (box) new LiveChart(box);
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();
