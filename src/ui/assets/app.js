// dremioorch web UI: a single page app with hash routes (#/runs, #/runs/<id>,
// #/pipelines, #/schedules). Plain JS, no build step. Every piece of data is
// put into the page with textContent / createElement, never innerHTML, so run,
// task and pipeline names or outputs can never inject markup.
(function () {
  "use strict";

  var SVGNS = "http://www.w3.org/2000/svg";
  var REFRESH_MS = 5000;
  var PAGE_SIZE = 50;
  // dagre's layout grows fast with crossings (measured in node: a 300-task
  // tree lays out in 0.2 s, a 200-task graph with 390 criss-crossing edges
  // takes 9 s), so larger DAGs are listed in the task table, not drawn.
  var MAX_DAG_SIZE = 400;       // tasks + edges
  var MAX_TIMELINE_ROWS = 500;  // bars drawn at most; the task table lists all

  var app = document.getElementById("app");
  var flashEl = document.getElementById("flash");
  var timer = null;      // the current page's auto-refresh timer
  var generation = 0;    // bumps on every route change; stale responses are dropped

  // Runs page state survives navigation to a run and back.
  var runsState = { pipeline: "", status: "", before: null, cursors: [], scrollY: 0 };

  // ---------- small DOM helpers ----------
  function el(tag, attrs, children) {
    var e = document.createElement(tag);
    setAttrs(e, attrs);
    append(e, children);
    return e;
  }
  function svg(tag, attrs, children) {
    var e = document.createElementNS(SVGNS, tag);
    setAttrs(e, attrs);
    append(e, children);
    return e;
  }
  function setAttrs(e, attrs) {
    if (!attrs) return;
    Object.keys(attrs).forEach(function (k) {
      var v = attrs[k];
      if (v === null || v === undefined || v === false) return;
      if (k === "text") e.textContent = String(v);
      else if (k === "onclick") e.addEventListener("click", v);
      else if (k === "onchange") e.addEventListener("change", v);
      else e.setAttribute(k, String(v));
    });
  }
  function append(e, children) {
    if (children === null || children === undefined) return;
    if (!Array.isArray(children)) children = [children];
    children.forEach(function (c) {
      if (c === null || c === undefined || c === false) return;
      e.appendChild(typeof c === "string" || typeof c === "number" ? document.createTextNode(String(c)) : c);
    });
  }
  function clear(e) { while (e.firstChild) e.removeChild(e.firstChild); }
  function statusClass(s) { return "st-" + String(s || "").replace(/[^A-Za-z0-9_-]/g, ""); }
  function badge(s) { return el("span", { "class": "badge " + statusClass(s), text: s || "?" }); }
  function flash(msg) {
    flashEl.textContent = msg;
    setTimeout(function () { if (flashEl.textContent === msg) flashEl.textContent = ""; }, 4000);
  }

  // ---------- formatting ----------
  function toMs(t) {
    if (t === null || t === undefined || t === "") return null;
    if (typeof t === "number") return t * 1000;
    var n = Number(t);
    if (!isNaN(n)) return n * 1000;
    var d = Date.parse(t);
    return isNaN(d) ? null : d;
  }
  function pad(n) { return n < 10 ? "0" + n : String(n); }
  function fmtTime(t) {
    var ms = toMs(t);
    if (ms === null) return "—";
    var d = new Date(ms);
    return d.getFullYear() + "-" + pad(d.getMonth() + 1) + "-" + pad(d.getDate()) + " " +
      pad(d.getHours()) + ":" + pad(d.getMinutes()) + ":" + pad(d.getSeconds());
  }
  function fmtDuration(ms) {
    if (ms === null || ms === undefined || isNaN(ms) || ms < 0) return "—";
    if (ms < 1000) return Math.round(ms) + " ms";
    var s = ms / 1000;
    if (s < 60) return s.toFixed(s < 10 ? 2 : 1) + " s";
    var m = Math.floor(s / 60);
    if (m < 60) return m + " min " + Math.round(s - m * 60) + " s";
    var h = Math.floor(m / 60);
    return h + " h " + (m - h * 60) + " min";
  }
  function runDuration(r) {
    var s = toMs(r.start_time), e = toMs(r.end_time);
    if (s === null) return "—";
    if (e === null) return r.status === "RUNNING" ? fmtDuration(Date.now() - s) + " (running)" : "—";
    return fmtDuration(e - s);
  }
  function fmtBytes(n) {
    if (typeof n !== "number") return "?";
    if (n < 1024) return n + " B";
    if (n < 1048576) return (n / 1024).toFixed(1) + " KiB";
    return (n / 1048576).toFixed(1) + " MiB";
  }

  // The graph layout library (~280 KB) is only needed on a run's page: it is
  // loaded on first use (or once the first page has rendered), so the runs
  // list does not wait for it.
  var dagrePromise = null;
  function loadDagre() {
    if (window.dagre) return Promise.resolve();
    if (!dagrePromise) {
      dagrePromise = new Promise(function (resolve) {
        var s = document.createElement("script");
        s.src = "/assets/dagre.min.js";
        s.onload = resolve;
        s.onerror = resolve; // drawDag reports the missing library
        document.head.appendChild(s);
      });
    }
    return dagrePromise;
  }

  // ---------- HTTP ----------
  function api(path, opts) {
    opts = opts || {};
    return fetch(path, {
      method: opts.method || "GET",
      credentials: "same-origin",
      headers: { "Accept": "application/json" },
      cache: "no-store"
    }).then(function (resp) {
      return resp.text().then(function (body) {
        var data = null;
        try { data = body ? JSON.parse(body) : null; } catch (e) { data = null; }
        if (!resp.ok) {
          var msg = data && data.error ? data.error : (resp.status + " " + resp.statusText);
          var err = new Error(msg);
          err.status = resp.status;
          throw err;
        }
        return data;
      });
    });
  }
  function showError(where, err) {
    clear(where);
    where.appendChild(el("p", { "class": "error", text: "Error: " + (err && err.message ? err.message : String(err)) }));
  }

  // ---------- routing ----------
  function setActiveNav(name) {
    ["runs", "pipelines", "schedules"].forEach(function (n) {
      var a = document.getElementById("nav-" + n);
      if (a) a.classList.toggle("active", n === name);
    });
  }
  function stopTimer() { if (timer) { clearInterval(timer); timer = null; } }

  function route() {
    stopTimer();
    generation++;
    var h = location.hash || "#/runs";
    var m;
    if (h === "#/runs" || h === "#/" || h === "#" || h === "") {
      setActiveNav("runs"); runsPage(generation);
    } else if ((m = /^#\/runs\/(.+)$/.exec(h))) {
      var id;
      try { id = decodeURIComponent(m[1]); } catch (e) { id = m[1]; }
      setActiveNav("runs"); runPage(generation, id);
    } else if (h === "#/pipelines") {
      setActiveNav("pipelines"); pipelinesPage(generation);
    } else if (h === "#/schedules") {
      setActiveNav("schedules"); schedulesPage(generation);
    } else {
      setActiveNav(""); clear(app);
      app.appendChild(el("h1", { text: "Not found" }));
      app.appendChild(el("p", null, [el("a", { href: "#/runs", text: "Back to runs" })]));
    }
  }

  // ---------- Runs page ----------
  function runsQuery() {
    var q = ["limit=" + PAGE_SIZE];
    if (runsState.pipeline) q.push("pipeline=" + encodeURIComponent(runsState.pipeline));
    if (runsState.status) q.push("status=" + encodeURIComponent(runsState.status));
    if (runsState.before !== null) q.push("before=" + encodeURIComponent(String(runsState.before)));
    return "/api/runs?" + q.join("&");
  }

  function runsPage(gen) {
    clear(app);
    var pipelineSel = el("select", { id: "filter-pipeline", "aria-label": "Pipeline" }, [el("option", { value: "", text: "All pipelines" })]);
    var statusSel = el("select", { id: "filter-status", "aria-label": "Status" },
      [["", "All statuses"], ["RUNNING", "RUNNING"], ["SUCCESS", "SUCCESS"], ["FAILED", "FAILED"]].map(function (o) {
        return el("option", { value: o[0], text: o[1] });
      }));
    statusSel.value = runsState.status;
    var note = el("span", { "class": "refresh-note", text: "" });
    var tbody = el("tbody");
    var table = el("table", { "class": "grid runs", id: "runs-table" }, [
      el("thead", null, el("tr", null, ["Pipeline", "Run id", "Status", "Started", "Duration"].map(function (t) { return el("th", { text: t }); }))),
      tbody
    ]);
    var newer = el("button", { id: "page-newer", text: "← Newer" });
    var older = el("button", { id: "page-older", text: "Older →" });
    var pageInfo = el("span", { "class": "muted" });
    var body = el("div", null, table);

    app.appendChild(el("h1", { text: "Runs" }));
    app.appendChild(el("div", { "class": "toolbar" }, [
      el("label", null, ["Pipeline", pipelineSel]),
      el("label", null, ["Status", statusSel]),
      note
    ]));
    app.appendChild(body);
    app.appendChild(el("div", { "class": "pager" }, [newer, older, pageInfo]));

    var lastRows = [];

    function resetPaging() { runsState.before = null; runsState.cursors = []; }
    pipelineSel.addEventListener("change", function () { runsState.pipeline = pipelineSel.value; resetPaging(); load(false); });
    statusSel.addEventListener("change", function () { runsState.status = statusSel.value; resetPaging(); load(false); });
    older.addEventListener("click", function () {
      if (!lastRows.length) return;
      runsState.cursors.push(runsState.before);
      runsState.before = lastRows[lastRows.length - 1].start_time;
      load(false);
    });
    newer.addEventListener("click", function () {
      if (!runsState.cursors.length) return;
      runsState.before = runsState.cursors.pop();
      load(false);
    });

    api("/api/pipelines").then(function (names) {
      if (gen !== generation || !Array.isArray(names)) return;
      if (runsState.pipeline && names.indexOf(runsState.pipeline) < 0) names = names.concat([runsState.pipeline]);
      names.slice().sort().forEach(function (n) { pipelineSel.appendChild(el("option", { value: n, text: n })); });
      pipelineSel.value = runsState.pipeline;
    }).catch(function () { /* the filter stays at "All" */ });

    function render(rows) {
      lastRows = rows;
      var frag = document.createDocumentFragment();
      if (!rows.length) {
        frag.appendChild(el("tr", { "class": "empty" }, el("td", { colspan: 5, "class": "muted", text: "No runs" })));
      }
      rows.forEach(function (r) {
        frag.appendChild(el("tr", { "data-run-id": r.run_id }, [
          el("td", { text: r.pipeline_name }),
          el("td", { "class": "mono" }, el("a", { href: "#/runs/" + encodeURIComponent(r.run_id), "class": "run-link", text: r.run_id })),
          el("td", null, badge(r.status)),
          el("td", { text: fmtTime(r.start_time) }),
          el("td", { text: runDuration(r) })
        ]));
      });
      clear(tbody);
      tbody.appendChild(frag);
      newer.disabled = runsState.cursors.length === 0;
      older.disabled = rows.length < PAGE_SIZE;
      pageInfo.textContent = "Page " + (runsState.cursors.length + 1);
      note.textContent = "Updated " + fmtTime(Date.now() / 1000) + " · refreshes every 5 s";
      // Lets tests and curious users read the load time (performance.getEntriesByName).
      if (window.performance && performance.mark && !performance.getEntriesByName("dorch-runs-rendered").length) {
        performance.mark("dorch-runs-rendered");
      }
    }

    function load(keepScroll) {
      var y = window.scrollY;
      return api(runsQuery()).then(function (rows) {
        if (gen !== generation) return;
        if (body.firstChild !== table) { clear(body); body.appendChild(table); }
        render(Array.isArray(rows) ? rows : []);
        if (keepScroll) window.scrollTo(0, y);
      }).catch(function (err) {
        if (gen !== generation) return;
        showError(body, err);
      });
    }

    load(false).then(function () {
      if (gen === generation && runsState.scrollY) { window.scrollTo(0, runsState.scrollY); runsState.scrollY = 0; }
      setTimeout(loadDagre, 1500);
    });
    // Auto-refresh keeps filters, the page cursor and the scroll position.
    timer = setInterval(function () { load(true); }, REFRESH_MS);
  }

  // Remember the runs list scroll position when leaving it for a run.
  document.addEventListener("click", function (ev) {
    var a = ev.target && ev.target.closest ? ev.target.closest("a.run-link") : null;
    if (a) runsState.scrollY = window.scrollY;
  });

  // ---------- Run detail page ----------
  function runPage(gen, runId) {
    clear(app);
    app.appendChild(el("p", null, el("a", { href: "#/runs", text: "← All runs" })));
    var title = el("h1", null, ["Run ", el("span", { "class": "mono", text: runId })]);
    app.appendChild(title);
    var content = el("div", { id: "run-detail" }, el("p", { "class": "muted", text: "Loading…" }));
    app.appendChild(content);

    var drawnDag = null; // DAG drawn once per page; only colours are updated on refresh

    function load() {
      return Promise.all([api("/api/runs/" + encodeURIComponent(runId)), loadDagre()]).then(function (res) {
        var run = res[0];
        if (gen !== generation) return;
        renderRun(content, run);
        if (run.status !== "RUNNING") stopTimer();
      }).catch(function (err) {
        if (gen !== generation) return;
        stopTimer();
        showError(content, err);
      });
    }

    function renderRun(root, run) {
      var y = window.scrollY;
      var details = Array.isArray(run.task_details) ? run.task_details : [];
      var statusOf = {};
      Object.keys(run.tasks || {}).forEach(function (k) { statusOf[k] = run.tasks[k]; });
      details.forEach(function (d) { statusOf[d.name] = d.status; });

      var frag = document.createDocumentFragment();
      frag.appendChild(el("dl", { "class": "summary" }, [
        el("dt", { text: "Pipeline" }), el("dd", { text: run.pipeline_name }),
        el("dt", { text: "Status" }), el("dd", null, badge(run.status)),
        el("dt", { text: "Started" }), el("dd", { text: fmtTime(run.start_time) }),
        el("dt", { text: "Ended" }), el("dd", { text: fmtTime(run.end_time) }),
        el("dt", { text: "Duration" }), el("dd", { text: runDuration(run) }),
        el("dt", { text: "Tasks" }), el("dd", { text: String(Object.keys(statusOf).length) })
      ]));

      frag.appendChild(el("h2", { text: "DAG" }));
      var dagBox = el("div", { "class": "panel", id: "dag" });
      frag.appendChild(dagBox);
      if (!drawnDag) drawnDag = drawDag(run.dag, statusOf);
      else recolourDag(drawnDag, statusOf);
      dagBox.appendChild(drawnDag);

      frag.appendChild(el("h2", { text: "Timeline" }));
      frag.appendChild(el("div", { "class": "panel", id: "timeline" }, drawTimeline(run, details)));

      frag.appendChild(el("h2", { text: "Tasks" }));
      frag.appendChild(taskTable(details, statusOf));

      frag.appendChild(el("h2", { text: "Outputs" }));
      frag.appendChild(outputsView(run.outputs));

      clear(root);
      root.appendChild(frag);
      window.scrollTo(0, y);
    }

    load();
    timer = setInterval(load, REFRESH_MS);
  }

  function drawDag(dag, statusOf) {
    if (!dag || !Array.isArray(dag.tasks)) {
      return el("p", { "class": "muted", text: "No DAG stored for this run." });
    }
    var nEdges = Array.isArray(dag.edges) ? dag.edges.length : 0;
    if (dag.tasks.length + nEdges > MAX_DAG_SIZE) {
      return el("p", { "class": "muted", id: "dag-too-large", text: "The DAG has " + dag.tasks.length + " tasks and " + nEdges + " edges, too many to draw here; see the task table below." });
    }
    if (typeof window.dagre === "undefined") {
      return el("p", { "class": "error", text: "Graph layout library did not load." });
    }
    var g = new window.dagre.graphlib.Graph();
    g.setGraph({ rankdir: "LR", nodesep: 18, ranksep: 50, marginx: 12, marginy: 12 });
    g.setDefaultEdgeLabel(function () { return {}; });
    dag.tasks.forEach(function (t) {
      var label = String(t);
      var shown = label.length > 40 ? label.slice(0, 39) + "…" : label;
      g.setNode(label, { label: shown, width: Math.max(60, shown.length * 7.4 + 24), height: 30 });
    });
    (dag.edges || []).forEach(function (e) {
      if (Array.isArray(e) && e.length === 2 && g.hasNode(String(e[0])) && g.hasNode(String(e[1]))) {
        g.setEdge(String(e[0]), String(e[1]));
      }
    });
    window.dagre.layout(g);
    var gr = g.graph();
    var w = Math.ceil(gr.width || 100), h = Math.ceil(gr.height || 60);
    var root = svg("svg", { "class": "dag", width: w, height: h, viewBox: "0 0 " + w + " " + h, role: "img", "aria-label": "Task graph" });
    root.appendChild(svg("defs", null, svg("marker", { id: "arrow", viewBox: "0 0 10 10", refX: 9, refY: 5, markerWidth: 7, markerHeight: 7, orient: "auto" },
      svg("path", { d: "M0,0 L10,5 L0,10 z" }))));
    var edges = svg("g", { "class": "edges" });
    g.edges().forEach(function (e) {
      var pts = g.edge(e).points || [];
      if (!pts.length) return;
      var d = "M" + pts.map(function (p) { return p.x.toFixed(1) + "," + p.y.toFixed(1); }).join(" L");
      edges.appendChild(svg("path", { "class": "edge", d: d, "marker-end": "url(#arrow)" }));
    });
    root.appendChild(edges);
    var nodes = svg("g", { "class": "nodes" });
    g.nodes().forEach(function (name) {
      var n = g.node(name);
      var grp = svg("g", { "class": "node " + statusClass(statusOf[name] || "PENDING"), transform: "translate(" + (n.x - n.width / 2).toFixed(1) + "," + (n.y - n.height / 2).toFixed(1) + ")" }, [
        svg("title", { text: name + " — " + (statusOf[name] || "PENDING") }),
        svg("rect", { width: n.width.toFixed(1), height: n.height, rx: 5, ry: 5 }),
        svg("text", { x: 12, y: 19, text: n.label })
      ]);
      grp.__task = name;
      nodes.appendChild(grp);
    });
    root.appendChild(nodes);
    return root;
  }

  function recolourDag(root, statusOf) {
    if (!root.querySelectorAll) return;
    Array.prototype.forEach.call(root.querySelectorAll("g.node"), function (grp) {
      var name = grp.__task;
      grp.setAttribute("class", "node " + statusClass(statusOf[name] || "PENDING"));
      var t = grp.querySelector("title");
      if (t) t.textContent = name + " — " + (statusOf[name] || "PENDING");
    });
  }

  function drawTimeline(run, details) {
    var rows = details.filter(function (d) { return toMs(d.start_time) !== null; });
    if (!rows.length) return el("p", { "class": "muted", text: "No task has started yet." });
    rows.sort(function (a, b) { return toMs(a.start_time) - toMs(b.start_time); });
    var extra = rows.length - MAX_TIMELINE_ROWS;
    if (extra > 0) rows = rows.slice(0, MAX_TIMELINE_ROWS);
    var now = Date.now();
    var t0 = toMs(run.start_time);
    if (t0 === null) t0 = toMs(rows[0].start_time);
    var t1 = toMs(run.end_time);
    rows.forEach(function (d) {
      var e = toMs(d.end_time);
      if (e === null) e = now;
      if (t1 === null || e > t1) t1 = e;
      var s = toMs(d.start_time);
      if (s < t0) t0 = s;
    });
    var span = Math.max(1, t1 - t0);
    var labelW = 220, plotW = 760, rowH = 22, top = 24;
    var W = labelW + plotW + 90, H = top + rows.length * rowH + 8;
    var root = svg("svg", { "class": "timeline", width: W, height: H, viewBox: "0 0 " + W + " " + H, role: "img", "aria-label": "Task timeline" });
    for (var i = 0; i <= 4; i++) {
      var x = labelW + plotW * i / 4;
      root.appendChild(svg("line", { "class": "grid", x1: x, x2: x, y1: top - 6, y2: H }));
      root.appendChild(svg("text", { "class": "axis", x: x + 2, y: 14, text: "+" + fmtDuration(span * i / 4) }));
    }
    rows.forEach(function (d, idx) {
      var s = toMs(d.start_time), e = toMs(d.end_time);
      var running = e === null;
      if (running) e = now;
      var y = top + idx * rowH;
      var x = labelW + plotW * (s - t0) / span;
      var w = Math.max(2, plotW * (e - s) / span);
      var name = String(d.name);
      root.appendChild(svg("text", { x: 4, y: y + 15, text: name.length > 28 ? name.slice(0, 27) + "…" : name }));
      root.appendChild(svg("rect", { "class": "bar " + statusClass(d.status), x: x.toFixed(1), y: y + 3, width: w.toFixed(1), height: rowH - 6, rx: 3 },
        svg("title", { text: name + ": " + d.status + ", " + fmtDuration(e - s) + (running ? " so far" : "") })));
      root.appendChild(svg("text", { "class": "axis", x: (x + w + 4).toFixed(1), y: y + 15, text: fmtDuration(e - s) }));
    });
    if (extra > 0) {
      return el("div", null, [root, el("p", { "class": "muted", text: extra + " more tasks not drawn; see the task table." })]);
    }
    return root;
  }

  function taskTable(details, statusOf) {
    var rows = details.length ? details : Object.keys(statusOf).map(function (k) { return { name: k, status: statusOf[k] }; });
    var tbody = el("tbody");
    rows.forEach(function (d) {
      var s = toMs(d.start_time), e = toMs(d.end_time);
      tbody.appendChild(el("tr", null, [
        el("td", { "class": "mono", text: d.name }),
        el("td", null, badge(d.status)),
        el("td", { text: d.attempts === undefined || d.attempts === null ? "—" : String(d.attempts) }),
        el("td", { text: fmtTime(d.start_time) }),
        el("td", { text: s !== null && e !== null ? fmtDuration(e - s) : "—" }),
        el("td", { "class": "wrap mono", text: d.error || "" })
      ]));
    });
    if (!rows.length) tbody.appendChild(el("tr", null, el("td", { colspan: 6, "class": "muted", text: "No tasks" })));
    return el("table", { "class": "grid tasks", id: "task-table" }, [
      el("thead", null, el("tr", null, ["Task", "Status", "Attempts", "Started", "Duration", "Error"].map(function (t) { return el("th", { text: t }); }))),
      tbody
    ]);
  }

  function outputsView(outputs) {
    var names = outputs ? Object.keys(outputs) : [];
    if (!names.length) return el("p", { "class": "muted", text: "No stored outputs." });
    var box = el("div", { id: "outputs" });
    names.sort().forEach(function (name) {
      var o = outputs[name] || {};
      box.appendChild(el("h3", null, [
        el("span", { "class": "mono", text: name }),
        el("span", { "class": "muted", text: " · " + fmtBytes(o.size) }),
        o.truncated ? el("span", { "class": "truncated", text: "truncated (first 4 KiB shown)" }) : null
      ]));
      box.appendChild(el("pre", { "class": "output", text: o.preview === undefined || o.preview === null ? "" : String(o.preview) }));
    });
    return box;
  }

  // ---------- Pipelines page ----------
  function pipelinesPage(gen) {
    clear(app);
    app.appendChild(el("h1", { text: "Pipelines" }));
    var box = el("div", null, el("p", { "class": "muted", text: "Loading…" }));
    app.appendChild(box);
    api("/api/pipelines?detail=1").then(function (list) {
      if (gen !== generation) return;
      list = (Array.isArray(list) ? list : []).map(function (p) {
        return typeof p === "string" ? { name: p, runnable: false } : p;
      });
      clear(box);
      if (!list.length) { box.appendChild(el("p", { "class": "muted", text: "No pipelines" })); return; }
      var tbody = el("tbody");
      list.forEach(function (p) {
        var btn = null;
        if (p.runnable) {
          btn = el("button", { "class": "primary run-now", "data-pipeline": p.name, text: "Run now" });
          btn.addEventListener("click", function () { trigger(p.name, btn); });
        }
        tbody.appendChild(el("tr", null, [
          el("td", { "class": "mono", text: p.name }),
          el("td", null, el("a", { href: "#/runs", text: "runs", onclick: function () { runsState.pipeline = p.name; runsState.before = null; runsState.cursors = []; } })),
          el("td", null, btn || el("span", { "class": "muted", text: "history only" }))
        ]));
      });
      box.appendChild(el("table", { "class": "grid pipelines", id: "pipelines-table" }, [
        el("thead", null, el("tr", null, ["Pipeline", "History", ""].map(function (t) { return el("th", { text: t }); }))),
        tbody
      ]));
    }).catch(function (err) { if (gen === generation) showError(box, err); });
  }

  function trigger(name, btn) {
    btn.disabled = true;
    api("/api/pipelines/" + encodeURIComponent(name) + "/trigger", { method: "POST" }).then(function () {
      flash("Triggered " + name);
      // Show the new run: the runs page filtered on this pipeline, refreshed soon.
      runsState.pipeline = name; runsState.status = ""; runsState.before = null; runsState.cursors = [];
      location.hash = "#/runs";
      setTimeout(function () { if (location.hash === "#/runs") route(); }, 800);
    }).catch(function (err) {
      btn.disabled = false;
      flash("Trigger failed: " + err.message);
    });
  }

  // ---------- Schedules page ----------
  function schedulesPage(gen) {
    clear(app);
    app.appendChild(el("h1", { text: "Schedules" }));
    var box = el("div", null, el("p", { "class": "muted", text: "Loading…" }));
    app.appendChild(box);
    function load() {
      api("/api/schedules").then(function (list) {
        if (gen !== generation) return;
        clear(box);
        if (!Array.isArray(list) || !list.length) { box.appendChild(el("p", { "class": "muted", id: "no-schedules", text: "No schedules" })); return; }
        var tbody = el("tbody");
        list.forEach(function (s) {
          tbody.appendChild(el("tr", null, [
            el("td", { "class": "mono", text: s.name }),
            el("td", { text: s.pipeline }),
            el("td", { "class": "mono", text: s.spec }),
            el("td", { text: s.timezone || "UTC" }),
            el("td", { text: s.overlap }),
            el("td", { text: fmtTime(s.last_fire) }),
            el("td", { text: fmtTime(s.next_fire) })
          ]));
        });
        box.appendChild(el("table", { "class": "grid schedules", id: "schedules-table" }, [
          el("thead", null, el("tr", null, ["Name", "Pipeline", "Schedule", "Time zone", "Overlap", "Last fire", "Next fire"].map(function (t) { return el("th", { text: t }); }))),
          tbody
        ]));
      }).catch(function (err) { if (gen === generation) showError(box, err); });
    }
    load();
    timer = setInterval(load, REFRESH_MS);
  }

  window.addEventListener("hashchange", route);
  if (!location.hash) history.replaceState(null, "", "#/runs");
  route();
})();
