// Shopbot review console: auditors filter logged turns, read them beside their evidence, judge
// them, promote corrections into the knowledge (and undo that), and watch quality over time.
// Admins also manage the router's versions (Models: gate, replay, deploy and rollback).
// Everything from the server is shown with textContent: it is (redacted) shopper text.
(function () {
  "use strict";
  const $ = (id) => document.getElementById(id);
  const SVG = "http://www.w3.org/2000/svg";
  const FILTERS = ["flag", "route", "reviewed", "verdict", "since", "until", "q", "min_score", "max_score"];
  const ENUM_FILTERS = ["flag", "route", "verdict"];
  const PAGE = 100;
  const CONTEXT = 5;
  // pii_redacted says the log is safe, not that the answer was poor: it does not jump the queue.
  const QUIET_FLAGS = new Set(["pii_redacted"]);
  const STAGES = ["route", "embed", "search", "action", "generate", "total"];
  const VIEWS = ["turns", "changes", "dashboard", "models"];
  const REVIEWERS = ["auditor", "admin"];
  const ADMIN = "admin";
  const ADMIN_VIEWS = new Set(["models"]);
  const STATS_REFRESH_MS = 30000;
  const PALETTE = ["#8c2f39", "#1a3d8f", "#2e7d4f", "#b35c00", "#6a3d9a", "#00838f", "#c2185b",
    "#5d4037", "#546e7a", "#9e9d24", "#d84315", "#283593"];

  const state = {
    me: null, optionsLoaded: false, params: new URLSearchParams(), items: [], cursor: null, queueSeq: 0,
    selected: null, detail: null, entries: null, changes: [], statsTimer: null, statsSeq: 0,
    models: null, modelsSeq: 0, modelSel: null, modelBusy: false, replays: {}, refused: new Set(),
  };

  // ------------------------------------------------------------------ plumbing

  async function api(path, options = {}) {
    const init = { credentials: "same-origin", headers: {}, ...options };
    if (init.body && typeof init.body !== "string") {
      init.body = JSON.stringify(init.body);
      init.headers["Content-Type"] = "application/json";
    }
    const resp = await fetch(path, init);
    const data = resp.headers.get("Content-Type")?.includes("json") ? await resp.json() : null;
    if (resp.status === 401 && path !== "/api/auth/login") showLogin();
    if (!resp.ok) {
      const err = new Error((data && data.error && data.error.message) || resp.statusText);
      err.status = resp.status;
      throw err;
    }
    return data;
  }

  function el(tag, attrs = {}, children = []) {
    const node = document.createElement(tag);
    for (const [key, value] of Object.entries(attrs)) {
      if (value == null || value === false) continue;
      if (key === "class") node.className = value;
      else if (key === "text") node.textContent = value;
      else if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
      else node.setAttribute(key, value === true ? "" : String(value));
    }
    for (const child of [].concat(children)) if (child != null) node.append(child);
    return node;
  }

  function svg(tag, attrs = {}, text) {
    const node = document.createElementNS(SVG, tag);
    for (const [key, value] of Object.entries(attrs)) node.setAttribute(key, String(value));
    if (text != null) node.textContent = text;
    return node;
  }

  const chip = (text, kind) => el("span", { class: kind ? `chip ${kind}` : "chip", text });
  const when = (iso) => new Date(iso).toLocaleString("en-GB", { dateStyle: "short", timeStyle: "medium" });
  const num = (value, digits = 2) => (value == null ? "—" : Number(value).toFixed(digits));
  const plural = (n, word) => `${n} ${word}${n === 1 ? "" : "s"}`;
  const attention = (turn) => (turn.flags || []).some((f) => !QUIET_FLAGS.has(f));

  // ------------------------------------------------------------------ sign-in and views

  function showLogin() {
    state.me = null;
    $("login").hidden = false;
    $("console").hidden = true;
    $("views").hidden = true;
    $("logout").hidden = true;
    $("who").textContent = "";
    stopStatsTimer();
    forgetModels();
  }

  async function start() {
    try {
      state.me = await api("/api/auth/me");
    } catch (err) {
      return showLogin();
    }
    if (!REVIEWERS.includes(state.me.role)) {
      const who = `${state.me.username} (${state.me.role})`;
      showLogin();
      $("login-error").textContent = `${who} may not review turns: sign in as an auditor.`;
      return;
    }
    $("login").hidden = true;
    $("console").hidden = false;
    $("views").hidden = false;
    $("logout").hidden = false;
    $("who").textContent = `${state.me.username} (${state.me.role})`;
    $("models-link").hidden = !isAdmin();
    await loadFilterOptions();
    showView();
    await loadQueue();
  }

  function currentView() {
    const view = location.hash.slice(1);
    if (ADMIN_VIEWS.has(view) && !isAdmin()) return "turns";
    return VIEWS.includes(view) ? view : "turns";
  }

  function showView() {
    if (!state.me) return;
    const view = currentView();
    for (const name of VIEWS) $(`view-${name}`).hidden = name !== view;
    for (const link of document.querySelectorAll("#views a")) {
      if (link.dataset.view === view) link.setAttribute("aria-current", "page");
      else link.removeAttribute("aria-current");
    }
    stopStatsTimer();
    if (view === "dashboard") {
      loadStats();
      state.statsTimer = setInterval(loadStats, STATS_REFRESH_MS);
    } else if (view === "changes") {
      loadChanges();
    } else if (view === "models") {
      loadModels();
    }
  }

  function stopStatsTimer() {
    clearInterval(state.statsTimer);
    state.statsTimer = null;
  }

  // ------------------------------------------------------------------ filters and queue

  async function loadFilterOptions() {
    if (state.optionsLoaded) return;
    // The API description is the one list of flags, routes and verdicts the server accepts.
    try {
      const doc = await api("/api/openapi.json");
      const params = doc.paths["/api/turns"].get.parameters;
      for (const name of ENUM_FILTERS) {
        const values = (params.find((p) => p.name === name)?.schema?.enum) || [];
        const select = $("filters").elements[name];
        for (const value of values) select.append(el("option", { value, text: value.replace(/_/g, " ") }));
      }
      state.optionsLoaded = true;
    } catch (err) {
      $("filter-error").textContent = `Could not load the filter choices: ${err.message}`;
    }
  }

  function filterParams() {
    const form = $("filters").elements;
    const params = new URLSearchParams();
    for (const name of FILTERS) {
      let value = String(form[name].value || "").trim();
      if (!value) continue;
      if (name === "since" || name === "until") {
        const instant = new Date(value);
        if (Number.isNaN(instant.getTime())) throw new Error(`${name}: not a date and time`);
        value = instant.toISOString();
      }
      params.set(name, value);
    }
    return params;
  }

  function updateExports(params) {
    for (const format of ["csv", "jsonl"]) {
      const query = new URLSearchParams(params);
      query.set("format", format);
      $(`export-${format}`).href = `/api/turns/export?${query}`;
    }
  }

  async function loadQueue(more = false) {
    $("filter-error").textContent = "";
    if (!more) {
      try {
        state.params = filterParams();
      } catch (err) {
        $("filter-error").textContent = err.message;
        return;
      }
      updateExports(state.params);
    }
    const seq = ++state.queueSeq;
    const query = new URLSearchParams(state.params);
    query.set("limit", PAGE);
    if (more && state.cursor) query.set("cursor", state.cursor);
    let page;
    try {
      page = await api(`/api/turns?${query}`);
    } catch (err) {
      if (seq === state.queueSeq) $("filter-error").textContent = err.message;
      return;
    }
    if (seq !== state.queueSeq) return;
    state.items = more ? state.items.concat(page.items) : page.items;
    state.cursor = page.next_cursor;
    renderQueue();
  }

  function ordered(items) {
    // Newest first from the server; a stable sort lifts the flagged turns above the rest.
    return [...items].sort((a, b) => Number(attention(b)) - Number(attention(a)));
  }

  function renderQueue() {
    const list = $("queue");
    list.replaceChildren();
    const items = ordered(state.items);
    const flagged = items.filter(attention).length;
    const more = state.cursor ? " (more to load)" : "";
    $("queue-count").textContent = `${plural(items.length, "turn")}${more}, ${flagged} flagged (shown first)`;
    $("more").hidden = !state.cursor;
    if (!items.length) list.append(el("li", { class: "muted none", text: "No turns match these filters." }));
    for (const turn of items) list.append(queueItem(turn));
  }

  function queueItem(turn) {
    const reply = (turn.response || []).map((r) => r.text).filter(Boolean).join(" ");
    const top = el("span", { class: "top" }, [
      el("span", { class: "time muted", text: when(turn.ts) }),
      chip(turn.route, "route"),
      turn.resolved ? chip("in context", "in-context") : null,
      turn.review ? chip(turn.review.verdict, `verdict ${turn.review.verdict}`) : null,
    ]);
    const flags = el("span", { class: "chips" }, (turn.flags || []).map((f) => chip(f, "flag")));
    const button = el("button", {
      type: "button", class: "turn-item", "aria-pressed": String(turn.turn_id === state.selected),
      onclick: () => select(turn.turn_id),
    }, [
      top,
      el("span", { class: "text", text: turn.user_text || "(no shopper text)" }),
      el("span", { class: "reply muted", text: reply }),
      flags,
    ]);
    return el("li", { "data-turn": turn.turn_id, class: attention(turn) ? "flagged" : "" }, button);
  }

  // ------------------------------------------------------------------ one turn

  async function select(turnId) {
    state.selected = turnId;
    for (const b of document.querySelectorAll("#queue .turn-item")) {
      b.setAttribute("aria-pressed", String(b.parentElement.dataset.turn === turnId));
    }
    let detail;
    try {
      [detail] = await Promise.all([
        api(`/api/turns/${encodeURIComponent(turnId)}?context=${CONTEXT}`),
        loadChanges(),
      ]);
    } catch (err) {
      $("filter-error").textContent = err.message;
      return;
    }
    if (state.selected !== turnId) return;
    state.detail = detail;
    renderTurn(detail);
    renderSide(detail, true);
    loadEntries();
  }

  function renderTurn(detail) {
    const turn = detail.turn;
    $("turn-empty").hidden = true;
    $("turn").hidden = false;
    $("turn-title").textContent = turn.user_text || "(no shopper text)";
    $("turn-meta").textContent =
      `${when(turn.ts)} · ${turn.channel} · conversation ${turn.conversation_id} · turn ${turn.turn_id}`;
    const chips = [chip(turn.route, "route"), ...(turn.flags || []).map((f) => chip(f, "flag"))];
    if (turn.review) chips.push(chip(`${turn.review.verdict} (${turn.review.reviewer})`, `verdict ${turn.review.verdict}`));
    if (turn.feedback) chips.push(chip(turn.feedback > 0 ? "shopper: helpful" : "shopper: not helpful", "feedback"));
    $("turn-chips").replaceChildren(...chips);
    renderRouting(detail.routing || {});
    renderReading(detail.reading, detail.withheld_draft);
    renderContext(detail);
    renderLatency(detail.latency_ms || {});
  }

  function renderRouting(routing) {
    const ranking = (routing.ranking || []).slice(0, 3).map(([label, p]) => `${label} ${num(p)}`).join(" · ");
    const rows = [
      ["label", routing.label ?? "—"],
      ["confidence", num(routing.confidence)],
      ["grounding", num(routing.grounding)],
      ["router ranking", ranking || "—"],
    ];
    $("turn-routing").replaceChildren(...rows.flatMap(([k, v]) => [el("dt", { text: k }), el("dd", { text: v })]));
  }

  // How the message was read in its conversation, and a draft the verifier held back; all of
  // it was redacted when logged.
  function renderReading(reading, withheld) {
    const box = $("turn-reading");
    box.hidden = !reading;
    box.replaceChildren();
    if (reading) {
      const products = (reading.refers_to || []).map((p) => el("li", { "data-code": p.stock_code }, [
        p.name ? el("span", { class: "name", text: p.name }) : null,
        el("span", { class: "code", text: p.stock_code }),
      ]));
      box.append(
        el("p", { class: "resolved" }, [
          el("span", { class: "label", text: "Read in context:" }), " ",
          el("q", { text: reading.resolved || "" }), " ",
          reading.act ? chip(reading.act, "act") : null,
        ]),
        products.length ? el("div", { class: "refers" }, [
          el("span", { class: "label", text: "Refers to:" }), el("ul", {}, products),
        ]) : null,
      );
    }
    const held = $("turn-withheld");
    held.hidden = !withheld;
    held.replaceChildren(...(withheld ? [el("span", { class: "label", text: "Not sent:" }), " ",
      el("span", { class: "draft", text: withheld })] : []));
  }

  function renderContext(detail) {
    const box = $("turn-context");
    box.replaceChildren();
    for (const record of detail.context.before) box.append(exchange(record, false));
    box.append(exchange(detail.turn, true));
    for (const record of detail.context.after) box.append(exchange(record, false));
    box.querySelector(".current")?.scrollIntoView({ block: "nearest" });
  }

  function exchange(record, current) {
    const staff = record.channel === "staff";
    const parts = [];
    if (record.user_text) parts.push(el("div", { class: "msg shopper", text: record.user_text }));
    if (record.user_text && record.resolved) {
      parts.push(el("div", { class: "read-as muted", text: `read as: ${record.resolved}` }));
    }
    for (const r of record.response || []) {
      const lines = [];
      if (r.text) lines.push(r.text);
      for (const b of r.buttons || []) lines.push(`[${b.title}]`);
      for (const p of (r.custom && r.custom.products) || []) lines.push(`• ${p.name} (£${num(p.price)})`);
      parts.push(el("div", { class: `msg ${staff ? "staff" : "bot"}`, text: lines.join("\n") }));
    }
    const meta = el("div", { class: "meta muted" }, [
      when(record.ts), " ", chip(staff ? "staff" : record.route, "route"),
      ...(record.flags || []).map((f) => chip(f, "flag")),
    ]);
    return el("div", { class: current ? "exchange current" : "exchange", "data-turn": record.turn_id },
      [...parts, meta]);
  }

  function renderLatency(latency) {
    const known = STAGES.filter((s) => s in latency);
    const stages = [...known, ...Object.keys(latency).filter((s) => !STAGES.includes(s)).sort()];
    const longest = Math.max(1, ...stages.map((s) => latency[s]));
    const body = $("turn-latency").tBodies[0];
    body.replaceChildren();
    if (!stages.length) body.append(el("tr", {}, el("td", { class: "muted", text: "No timings logged." })));
    for (const stage of stages) {
      const bar = el("span", { class: "bar" });
      bar.style.width = `${(100 * latency[stage]) / longest}%`;
      body.append(el("tr", { "data-stage": stage }, [
        el("th", { text: stage }),
        el("td", { class: "ms", text: `${num(latency[stage], 1)} ms` }),
        el("td", { class: "barcell" }, bar),
      ]));
    }
  }

  function renderSide(detail, fresh) {
    const turn = detail.turn;
    $("side").hidden = false;
    const hits = detail.evidence.hits || [];
    const passages = detail.evidence.passages || [];
    $("hits").tBodies[0].replaceChildren(...hits.map((h) => el("tr", {}, [
      el("td", { text: h.kind }), el("td", { text: h.id }), el("td", { class: "score", text: num(h.score, 3) }),
      el("td", { text: h.text }),
    ])));
    $("hits").hidden = !hits.length;
    $("passages").replaceChildren(...passages.map((p) => el("li", { text: p })));
    $("no-evidence").hidden = Boolean(hits.length || passages.length);
    $("reviews").replaceChildren(...(detail.reviews || []).map(reviewItem));
    if (fresh) {
      const latest = turn.review;
      $("correction").value = (latest && latest.correction) || "";
      $("note").value = (latest && latest.note) || "";
      $("promote-answer").value = (latest && latest.correction) || "";
      for (const id of ["review-status", "review-error", "promote-error"]) $(id).textContent = "";
    }
    renderTurnChanges();
  }

  function reviewItem(review) {
    const children = [
      chip(review.verdict, `verdict ${review.verdict}`),
      el("span", { class: "muted", text: ` ${review.reviewer}, ${when(review.ts)}` }),
    ];
    if (review.correction) children.push(el("div", { class: "correction", text: review.correction }));
    if (review.note) children.push(el("div", { class: "note muted", text: review.note }));
    return el("li", {}, children);
  }

  async function submitReview(event) {
    event.preventDefault();
    const verdict = event.submitter && event.submitter.value;
    const turnId = state.selected;
    if (!verdict || !turnId) return;
    const body = { verdict };
    const correction = $("correction").value.trim();
    const note = $("note").value.trim();
    if (correction) body.correction = correction;
    if (note) body.note = note;
    $("review-error").textContent = "";
    $("review-status").textContent = "Saving…";
    try {
      const review = await api(`/api/turns/${encodeURIComponent(turnId)}/review`, { method: "POST", body });
      $("review-status").textContent = `Saved: ${review.verdict}.`;
      if (review.correction && !$("promote-answer").value.trim()) $("promote-answer").value = review.correction;
      const item = state.items.find((t) => t.turn_id === turnId);
      if (item) item.review = review;
      renderQueue();
      await refreshDetail(turnId);
    } catch (err) {
      $("review-status").textContent = "";
      $("review-error").textContent = err.message;
    }
  }

  async function refreshDetail(turnId) {
    const detail = await api(`/api/turns/${encodeURIComponent(turnId)}?context=${CONTEXT}`);
    if (state.selected !== turnId) return;
    state.detail = detail;
    renderTurn(detail);
    renderSide(detail, false);
  }

  // ------------------------------------------------------------------ knowledge: promote and undo

  async function loadEntries() {
    if (state.entries) return;
    try {
      state.entries = (await api("/api/knowledge/entries")).entries;
    } catch (err) {
      $("promote-error").textContent = `Could not load the entries: ${err.message}`;
      return;
    }
    renderEntries();
  }

  function renderEntries() {
    const needle = $("entry-search").value.trim().toLowerCase();
    const chosen = $("entry").value;
    const matching = (state.entries || []).filter((e) => !needle ||
      [e.id, e.answer || "", ...e.questions].some((t) => t.toLowerCase().includes(needle)));
    $("entry").replaceChildren(...matching.map((e) => el("option", {
      value: e.id, text: `${e.id}: ${e.questions[0] || ""}`, selected: e.id === chosen,
    })));
    showEntryAnswer();
  }

  function showEntryAnswer() {
    const entry = (state.entries || []).find((e) => e.id === $("entry").value);
    $("entry-answer").textContent = entry ? `Answers: ${entry.answer || "(an action, not a text answer)"}` : "";
  }

  async function promote(event) {
    event.preventDefault();
    const turnId = state.selected;
    if (!turnId) return;
    const mode = $("promote-form").elements.mode.value;
    const body = {};
    if (mode === "new_phrasing") {
      if (!$("entry").value) {
        $("promote-error").textContent = "Pick the entry this question is another way of asking.";
        return;
      }
      body.entry_id = $("entry").value;
    } else if ($("promote-answer").value.trim()) {
      body.answer = $("promote-answer").value.trim();
    }
    $("promote-error").textContent = "";
    $("promote").disabled = true;
    try {
      const change = await api(`/api/turns/${encodeURIComponent(turnId)}/promote`, { method: "POST", body });
      state.changes = state.changes.filter((c) => c.id !== change.id).concat(change);
      state.entries = null; // a new entry can itself gain phrasings
      renderTurnChanges();
      renderChanges();
    } catch (err) {
      $("promote-error").textContent = err.message;
    } finally {
      $("promote").disabled = false;
    }
  }

  async function loadChanges() {
    try {
      state.changes = (await api("/api/knowledge/changes")).changes;
      $("changes-error").textContent = "";
    } catch (err) {
      $("changes-error").textContent = err.message;
    }
    renderChanges();
    renderTurnChanges();
  }

  async function undo(change, errorBox) {
    errorBox.textContent = "";
    try {
      const undone = await api(`/api/knowledge/changes/${change.id}/undo`, { method: "POST" });
      state.changes = state.changes.map((c) => (c.id === undone.id ? undone : c));
      renderChanges();
      renderTurnChanges();
    } catch (err) {
      errorBox.textContent = err.message;
      if (err.status === 409) await loadChanges();
    }
  }

  const KIND = { new_entry: "new entry", new_phrasing: "new phrasing" };

  function changeState(change) {
    return change.active ? "active" : `undone by ${change.undone_by || "?"}, ${when(change.undone_at)}`;
  }

  function renderTurnChanges() {
    const mine = state.changes.filter((c) => c.turn_id && c.turn_id === state.selected).reverse();
    $("turn-changes").replaceChildren(...mine.map((c) => el("li", {
      "data-change": c.id, class: c.active ? "active" : "undone",
    }, [
      el("strong", { text: `#${c.id} ${KIND[c.kind] || c.kind}` }),
      el("span", { text: ` ${c.entry_id}` }),
      el("div", { class: "muted state", text: changeState(c) }),
      c.active ? el("button", { type: "button", class: "undo", text: "Undo",
        onclick: () => undo(c, $("promote-error")) }) : null,
    ])));
  }

  function renderChanges() {
    const rows = [...state.changes].reverse().map((c) => el("tr", {
      "data-change": c.id, class: c.active ? "active" : "undone",
    }, [
      el("td", { text: `#${c.id}` }),
      el("td", { text: when(c.created_at) }),
      el("td", { text: KIND[c.kind] || c.kind }),
      el("td", { text: c.entry_id }),
      el("td", { class: "question" }, c.turn_id
        ? el("a", { href: "#turns", text: c.question, onclick: () => openTurn(c.turn_id) })
        : c.question),
      el("td", { class: "answer", text: c.answer || "—" }),
      el("td", { text: c.created_by }),
      el("td", { class: "state", text: changeState(c) }),
      el("td", {}, c.active ? el("button", { type: "button", class: "undo", text: "Undo",
        onclick: () => undo(c, $("changes-error")) }) : null),
    ]));
    $("changes").tBodies[0].replaceChildren(...rows);
    if (!rows.length) {
      $("changes").tBodies[0].append(el("tr", {}, el("td", { colspan: 9, class: "muted", text: "No changes yet." })));
    }
  }

  function openTurn(turnId) {
    select(turnId);
  }

  // ------------------------------------------------------------------ dashboard

  const UNIT_S = { s: 1, m: 60, h: 3600, d: 86400 };
  const seconds = (span) => Number(span.slice(0, -1)) * UNIT_S[span.slice(-1)];

  async function loadStats() {
    const [span, bucket] = $("window").value.split("/");
    const until = new Date();
    const since = new Date(until.getTime() - seconds(span) * 1000);
    const query = new URLSearchParams({ since: since.toISOString(), until: until.toISOString(), bucket });
    const seq = ++state.statsSeq;
    let report;
    try {
      report = await api(`/api/stats?${query}`);
    } catch (err) {
      if (seq === state.statsSeq) $("stats-error").textContent = err.message;
      return;
    }
    if (seq !== state.statsSeq) return;
    $("stats-error").textContent = "";
    $("stats-when").textContent = `updated ${until.toLocaleTimeString("en-GB")}`;
    renderTiles(report.total);
    renderCharts(report);
  }

  function renderTiles(total) {
    const pct = (rate) => (rate == null ? "—" : `${(100 * rate).toFixed(1)}%`);
    const ms = (v) => (v == null ? "—" : `${Math.round(v)} ms`);
    const tiles = [
      ["turns", "Turns", String(total.turns)],
      ["p50", "Latency p50", ms(total.latency_ms.p50)],
      ["p95", "Latency p95", ms(total.latency_ms.p95)],
      ["handoff", "Handoff rate", pct(total.handoff_rate)],
      ["generated", "Generated", pct(total.flag_rates.generated)],
      ["declined", "Declined", pct(total.flag_rates.declined)],
      ["up", "Thumbs up", String(total.feedback.up)],
      ["down", "Thumbs down", String(total.feedback.down)],
    ];
    $("tiles").replaceChildren(...tiles.map(([key, label, value]) => el("div", { class: "tile", "data-tile": key }, [
      el("div", { class: "value", text: value }), el("div", { class: "label muted", text: label }),
    ])));
  }

  function renderCharts(report) {
    const buckets = report.buckets;
    const labels = buckets.map((b) => b.start);
    const color = (i) => PALETTE[i % PALETTE.length];
    const used = (counts) => Object.keys(counts).filter((k) => counts[k] > 0);
    const rate = (v) => (v == null ? null : 100 * v);
    const ms = (v) => `${Math.round(v)} ms`;
    const pct = (v) => `${v.toFixed(1)}%`;
    const count = (v) => String(Math.round(v));
    drawChart($("chart-latency"), report, labels, "line", ms, [
      { name: "p50", color: color(1), values: buckets.map((b) => b.latency_ms.p50), total: report.total.latency_ms.p50 },
      { name: "p95", color: color(0), values: buckets.map((b) => b.latency_ms.p95), total: report.total.latency_ms.p95 },
    ]);
    drawChart($("chart-routes"), report, labels, "stack", count, used(report.total.routes).map((r, i) => (
      { name: r, color: color(i + 1), values: buckets.map((b) => b.routes[r]), total: report.total.routes[r] })));
    drawChart($("chart-flags"), report, labels, "line", pct, used(report.total.flags).map((f, i) => (
      { name: f.replace(/_/g, " "), color: color(i), values: buckets.map((b) => rate(b.flag_rates[f])),
        total: rate(report.total.flag_rates[f]) })));
    drawChart($("chart-handoff"), report, labels, "line", pct, [
      { name: "handoff rate", color: color(3), values: buckets.map((b) => rate(b.handoff_rate)),
        total: rate(report.total.handoff_rate) },
    ]);
    drawChart($("chart-feedback"), report, labels, "bars", count, [
      { name: "up", color: "#2e7d4f", values: buckets.map((b) => b.feedback.up), total: report.total.feedback.up },
      { name: "down", color: "#b00020", values: buckets.map((b) => b.feedback.down),
        total: report.total.feedback.down },
    ]);
  }

  function niceStep(max, whole) {
    const raw = (whole ? Math.max(max, 1) : max) / 4;
    const magnitude = 10 ** Math.floor(Math.log10(raw));
    const step = [1, 2, 5, 10].find((m) => raw <= m * magnitude) * magnitude;
    return whole ? Math.max(1, Math.ceil(step)) : step;
  }

  function timeLabel(iso, bucketSeconds) {
    const date = new Date(iso);
    if (bucketSeconds >= 86400) return date.toLocaleDateString("en-GB", { day: "numeric", month: "short" });
    const options = { hour: "2-digit", minute: "2-digit", ...(bucketSeconds < 60 ? { second: "2-digit" } : {}) };
    return date.toLocaleTimeString("en-GB", options);
  }

  // One SVG chart: lines with gaps where a bucket had no turns, stacked or grouped bars.
  function drawChart(figure, report, labels, kind, format, series) {
    const W = 560, H = 220, left = 52, right = 12, top = 12, bottom = 26;
    const plotW = W - left - right, plotH = H - top - bottom;
    const n = labels.length;
    const band = plotW / Math.max(1, n);
    const x = (i) => left + (i + 0.5) * band;
    const present = (v) => v != null && Number.isFinite(v);
    const totals = labels.map((_, i) => series.reduce((s, d) => s + (present(d.values[i]) ? d.values[i] : 0), 0));
    const peak = Math.max(0, ...(kind === "stack" ? totals : series.flatMap((d) => d.values.filter(present))));
    const step = niceStep(peak > 0 ? peak : 1, kind !== "line" || format(1).endsWith("ms"));
    const yMax = step * Math.max(1, Math.ceil(peak / step));
    const y = (v) => top + plotH - (plotH * v) / yMax;

    const chart = svg("svg", { viewBox: `0 0 ${W} ${H}`, role: "img", class: "plot" });
    for (let v = 0; v <= yMax + step / 2; v += step) {
      chart.append(svg("line", { x1: left, x2: W - right, y1: y(v), y2: y(v), class: "grid" }));
      chart.append(svg("text", { x: left - 6, y: y(v) + 4, class: "tick", "text-anchor": "end" }, format(v)));
    }
    const every = Math.max(1, Math.ceil(n / 6));
    for (let i = 0; i < n; i += every) {
      chart.append(svg("text", { x: x(i), y: H - 8, class: "tick", "text-anchor": "middle" },
        timeLabel(labels[i], report.bucket_seconds)));
    }
    let marks = 0;
    const tip = (d, i) => `${d.name}: ${format(d.values[i])} at ${timeLabel(labels[i], report.bucket_seconds)}`;
    series.forEach((d, s) => {
      if (kind === "line") {
        let path = "";
        d.values.forEach((v, i) => {
          if (!present(v)) return;
          path += `${present(d.values[i - 1]) ? "L" : "M"}${x(i).toFixed(1)},${y(v).toFixed(1)}`;
        });
        if (path) chart.append(svg("path", { d: path, class: "line", stroke: d.color }));
        d.values.forEach((v, i) => {
          if (!present(v)) return;
          const dot = svg("circle", { cx: x(i), cy: y(v), r: 3, fill: d.color, class: "mark" });
          dot.append(svg("title", {}, tip(d, i)));
          chart.append(dot);
          marks += 1;
        });
      } else {
        d.values.forEach((v, i) => {
          if (!present(v) || v <= 0) return;
          const below = kind === "stack" ? series.slice(0, s).reduce((t, e) => t + (e.values[i] || 0), 0) : 0;
          const width = kind === "stack" ? band * 0.7 : (band * 0.7) / series.length;
          const x0 = x(i) - band * 0.35 + (kind === "stack" ? 0 : s * width);
          const bar = svg("rect", {
            x: x0, y: y(below + v), width: Math.max(1, width), height: Math.max(0.5, y(below) - y(below + v)),
            fill: d.color, class: "mark",
          });
          bar.append(svg("title", {}, tip(d, i)));
          chart.append(bar);
          marks += 1;
        });
      }
    });
    if (!marks) {
      chart.append(svg("text", { x: left + plotW / 2, y: top + plotH / 2, class: "nodata", "text-anchor": "middle" },
        "No data in this window"));
    }
    figure.dataset.marks = String(marks);
    chart.setAttribute("aria-label", `${figure.querySelector("figcaption").textContent}: ${marks} data points`);
    // The whole window's figure beside each name: overlapping marks still read clearly.
    const legend = el("ul", { class: "legend" }, series.map((d) => el("li", {}, [
      el("span", { class: "swatch" }), el("span", { class: "name", text: d.name }),
      d.total == null ? null : el("span", { class: "total muted", text: ` ${format(d.total)}` }),
    ])));
    legend.querySelectorAll(".swatch").forEach((sw, i) => { sw.style.background = series[i].color; });
    figure.replaceChildren(figure.querySelector("figcaption"), chart, legend, dataTable(report, labels, series, format));
  }

  function dataTable(report, labels, series, format) {
    const rows = labels.map((label, i) => ({ label, values: series.map((d) => d.values[i]) }))
      .filter((row) => row.values.some((v) => v != null && v !== 0));
    const table = el("table", { class: "data" }, [
      el("thead", {}, el("tr", {}, [el("th", { text: "bucket" }), ...series.map((d) => el("th", { text: d.name }))])),
      el("tbody", {}, rows.map((row) => el("tr", {}, [
        el("td", { text: timeLabel(row.label, report.bucket_seconds) }),
        ...row.values.map((v) => el("td", { text: v == null ? "—" : format(v) })),
      ]))),
    ]);
    return el("details", {}, [el("summary", { text: `Data (${plural(rows.length, "bucket")} with turns)` }), table]);
  }

  // ------------------------------------------------------------------ models (admins)

  const GROUPS = [
    ["newly_answered", "Newly answered", "the live version declined these; the candidate answers them"],
    ["newly_declined", "Newly declined", "the live version answered these; the candidate declines them"],
    ["changed_answer", "Changed answer", "both answer, with a different route or entry"],
  ];
  const CHECKS = {
    gold_accuracy: "gold-set accuracy", held_out_accuracy: "held-out accuracy",
    held_out_oos_recall: "held-out out-of-scope recall",
    verified_share: "drafts the verifier keeps", answer_loss: "loss on reference answers (nats/token)",
  };

  const isAdmin = () => Boolean(state.me && state.me.role === ADMIN);
  const share = (v) => (v == null ? "—" : `${(100 * v).toFixed(1)}%`);
  // "router-…+onnx-int8" → "router-…": the registry's name of what a worker serves.
  const servedName = (serving) => String(serving || "").replace(/\+[^+]*$/, "");
  const modelOf = (version) => (state.models ? state.models.models.find((m) => m.version === version) : null);
  const routed = (r) => (r ? `${r.route}${r.label ? ` ${r.label}` : ""} (${num(r.confidence)})` : "—");

  function gateChip(report) {
    if (!report) return el("span", { class: "muted", text: "not evaluated" });
    if (report.error) return chip(report.error, "gate fail");
    return report.passed ? chip("pass", "gate pass") : chip("FAIL", "gate fail");
  }

  function forgetModels() {
    state.models = null;
    state.modelSel = null;
    state.replays = {};
    state.refused.clear();
    $("models-link").hidden = true;
    $("models").tBodies[0].replaceChildren();
    $("model-events").tBodies[0].replaceChildren();
    $("model").hidden = true;
    for (const id of ["models-serving", "models-status", "models-error", "model-status", "model-error"]) {
      $(id).textContent = "";
    }
  }

  async function loadModels() {
    if (!isAdmin()) return;
    const seq = ++state.modelsSeq;
    let listing;
    try {
      listing = await api("/api/models");
    } catch (err) {
      if (seq === state.modelsSeq) $("models-error").textContent = `Could not load the models: ${err.message}`;
      return;
    }
    if (seq !== state.modelsSeq || !isAdmin()) return;
    state.models = listing;
    $("models-error").textContent = "";
    renderModels();
  }

  // The version live before the current one, as the server picks it: the latest event that made
  // the live version live names what it replaced.
  function rollbackTarget() {
    const live = state.models && state.models.live.router;
    const event = live ? state.models.events.find((e) => e.kind === "router" && e.version === live) : null;
    return event ? event.previous : null;
  }

  function renderModels() {
    const { live, serving, models, events } = state.models;
    const served = serving.router;
    let where = `This worker serves ${served}`;
    if (!live.router) where += " (the seed router from setup: no version deployed yet)";
    else if (servedName(served) !== live.router) where += ` (live: ${live.router}; it swaps within seconds)`;
    $("models-serving").textContent = where;
    $("models-serving").dataset.serving = served;

    const rows = models.map((m) => {
      const training = (m.metrics && m.metrics.training) || {};
      const current = servedName(served) === m.version;
      return el("tr", {
        "data-version": m.version, "data-state": m.state,
        class: [m.state, m.version === state.modelSel ? "selected" : ""].join(" ").trim(),
      }, [
        el("td", {}, el("button", {
          type: "button", class: "pick", text: m.version, "aria-pressed": String(m.version === state.modelSel),
          onclick: () => selectModel(m.version),
        })),
        el("td", { class: "standing" }, [chip(m.state, `state ${m.state}`), current ? chip("serving", "serving") : null]),
        el("td", { text: when(m.created_at) }),
        el("td", { text: m.created_by }),
        el("td", { class: "num accuracy", text: share(training.held_out_accuracy_at_threshold) }),
        el("td", { class: "num oos", text: share(training.held_out_oos_recall) }),
        el("td", { class: "verdict" }, gateChip(m.metrics && m.metrics.evaluation)),
      ]);
    });
    if (!rows.length) {
      rows.push(el("tr", {}, el("td", { colspan: 7, class: "muted",
        text: "No versions yet: `shopbot train` registers a candidate." })));
    }
    $("models").tBodies[0].replaceChildren(...rows);

    const history = events.map((e) => el("tr", { "data-event": e.id, "data-action": e.action }, [
      el("td", { text: `#${e.id}` }),
      el("td", { text: when(e.ts) }),
      el("td", { class: "action", text: e.action }),
      el("td", { class: "version", text: e.version }),
      el("td", { text: e.previous || "—" }),
      el("td", { class: "actor", text: e.actor }),
      el("td", { class: "forced" }, e.forced ? chip("forced", "forced") : "no"),
      el("td", {}, e.metrics && "passed" in e.metrics ? gateChip(e.metrics) : "—"),
    ]));
    if (!history.length) {
      history.push(el("tr", {}, el("td", { colspan: 8, class: "muted", text: "Nothing deployed yet." })));
    }
    $("model-events").tBodies[0].replaceChildren(...history);
    if (state.modelSel && !modelOf(state.modelSel)) state.modelSel = null;
    renderModel();
  }

  function selectModel(version) {
    if (version !== state.modelSel && !state.modelBusy) {
      $("model-status").textContent = "";
      $("model-error").textContent = "";
    }
    state.modelSel = version;
    for (const row of $("models").tBodies[0].rows) {
      const chosen = row.dataset.version === version;
      row.classList.toggle("selected", chosen);
      row.querySelector(".pick")?.setAttribute("aria-pressed", String(chosen));
    }
    renderModel();
  }

  function renderModel() {
    const m = modelOf(state.modelSel);
    $("model").hidden = !m;
    syncModelButtons();
    if (!m) return;
    $("model").dataset.version = m.version;
    $("model-title").textContent = `${m.version} · ${m.state}`;
    const metrics = m.metrics || {};
    const training = metrics.training || {};
    const evaluation = metrics.evaluation;
    const replay = metrics.replay;
    const rows = [
      ["kind", m.kind],
      ["created", `${when(m.created_at)} by ${m.created_by}`],
      ["data hash", m.data_hash],
      ["threshold", training.threshold == null ? null : num(training.threshold, 3)],
      ["held-out accuracy at threshold", share(training.held_out_accuracy_at_threshold)],
      ["held-out accuracy (top 1)", training.held_out_accuracy == null ? null : share(training.held_out_accuracy)],
      ["held-out out-of-scope recall", share(training.held_out_oos_recall)],
      ["held-out phrasings", training.held_out_in_scope == null ? null
        : `${training.held_out_in_scope} in scope, ${training.held_out_oos ?? 0} out of scope`],
      ["training time", metrics.train_s == null ? null : `${num(metrics.train_s, 1)} s`],
      ["gate", evaluation ? `${evaluation.passed ? "passes" : "fails"}${evaluation.evaluated_at
        ? `, ${when(evaluation.evaluated_at)}` : ""}` : "not evaluated"],
      ["replay", replay ? `${replay.changed} of ${plural(replay.messages, "message")} change${replay.replayed_at
        ? `, ${when(replay.replayed_at)}` : ""}` : "not replayed"],
    ].filter(([, v]) => v != null);
    $("model-metrics").replaceChildren(...rows.flatMap(([k, v]) => [el("dt", { text: k }), el("dd", { text: v })]));
    $("model-settings").textContent = JSON.stringify(m.settings || {}, null, 2);
    renderGate(evaluation);
    renderReplay(state.replays[m.version] || replay);
  }

  function syncModelButtons() {
    const m = modelOf(state.modelSel);
    const busy = state.modelBusy;
    $("evaluate").disabled = busy || !m;
    $("replay").disabled = busy || !m;
    $("deploy").disabled = busy || !m || m.state === "live";
    $("deploy-force").hidden = !m || m.state === "live" || !state.refused.has(m.version);
    $("deploy-force").disabled = busy;
    const target = rollbackTarget();
    $("rollback").disabled = busy || !target;
    $("rollback").title = target ? `Make ${target} live again` : "Nothing to roll back to";
  }

  function renderGate(report) {
    const table = $("gate");
    if (!report || !report.checks) {
      $("gate-summary").replaceChildren(report && report.error ? gateChip(report) : "",
        "Not evaluated yet: Evaluate compares this version with the live one.");
      table.hidden = true;
      $("gate-failures").replaceChildren();
      return;
    }
    const against = report.live ? `against ${report.live}` : "with no live version to compare (nothing to lose)";
    $("gate-summary").replaceChildren(gateChip(report),
      ` ${against}; ${plural(report.gold_cases || 0, "gold case")}` +
      `${report.evaluated_at ? `, ${when(report.evaluated_at)}` : ""}.`);
    table.hidden = false;
    table.tBodies[0].replaceChildren(...report.checks.map((c) => el("tr", {
      "data-check": c.name, class: c.passed ? "passed" : "failed",
    }, [
      el("th", { text: CHECKS[c.name] || c.name.replace(/_/g, " ") }),
      el("td", { class: "num candidate", text: c.unit ? num(c.candidate, 3) : share(c.candidate) }),
      el("td", { class: "num live", text: c.unit ? num(c.live, 3) : share(c.live) }),
      el("td", { class: "num drop", text: c.drop_points == null ? "—" : num(c.drop_points, 2) }),
      el("td", { class: "num", text: `≤ ${num(c.max_drop_points, 1)}` }),
      el("td", { class: "result" }, c.passed ? chip("pass", "gate pass") : chip("FAIL", "gate fail")),
    ])));
    $("gate-failures").replaceChildren(...(report.failures || []).map((f) => el("li", {}, [
      el("div", { class: "text", text: f.text }),
      el("div", { class: "muted small", text: `reviewed ${f.verdict}: expects ${f.expect} ${f.route} ${f.label}`
        + ` · candidate ${routed(f.candidate)}${f.live ? ` · live ${routed(f.live)}` : ""}` }),
    ])));
  }

  function renderReplay(report) {
    const box = $("replay-groups");
    if (!report) {
      $("replay-summary").textContent = "Not replayed yet: Replay routes recent shopper messages through this "
        + "version and the live one.";
      box.replaceChildren();
      return;
    }
    const rates = report.rates || {};
    const decline = rates.live && rates.candidate
      ? ` Decline rate ${share(rates.live.decline_rate)} live → ${share(rates.candidate.decline_rate)} candidate.` : "";
    $("replay-summary").textContent = `${report.changed} of ${plural(report.messages, "message")} change between `
      + `${report.live} (live) and ${report.candidate}${report.replayed_at ? `, ${when(report.replayed_at)}` : ""}.`
      + decline;
    if (!report.groups) {
      box.replaceChildren(el("p", { class: "muted", text: "Replay again to see the messages that change." }));
      return;
    }
    box.replaceChildren(...GROUPS.map(([key, title, about]) => {
      const group = report.groups[key] || { count: 0, examples: [] };
      const more = group.count - group.examples.length;
      return el("section", { class: "replay-group", "data-group": key, "aria-label": title }, [
        el("h4", {}, [title, " ", el("span", { class: "count", text: String(group.count) })]),
        el("p", { class: "muted small", text: about }),
        el("ul", {}, group.examples.map((x) => el("li", { "data-turn": x.turn_id }, [
          el("div", { class: "text", text: x.text }),
          el("div", { class: "routes small", text: `${routed(x.live)} → ${routed(x.candidate)}` }),
          el("div", { class: "muted small", text: `logged: ${x.logged.route}${x.logged.label ? ` ${x.logged.label}` : ""}` }),
        ]))),
        more > 0 ? el("p", { class: "muted small", text: `and ${more} more` }) : null,
      ]);
    }));
  }

  function patchMetrics(version, metrics) {
    const m = modelOf(version);
    if (m) m.metrics = { ...m.metrics, ...metrics };
    if (state.models) renderModels();
  }

  // One model operation at a time (the server runs one per worker): its button shows it is
  // running, the others wait, the elapsed time ticks; the outcome or the error is shown.
  async function runOp({ button, status, error, progress, work }) {
    if (state.modelBusy) return;
    state.modelBusy = true;
    const started = Date.now();
    const tick = () => { status.textContent = `${progress} ${Math.round((Date.now() - started) / 1000)} s`; };
    tick();
    const timer = setInterval(tick, 1000);
    error.textContent = "";
    button.classList.add("busy");
    button.setAttribute("aria-busy", "true");
    syncModelButtons();
    try {
      const done = await work();
      clearInterval(timer);
      status.textContent = done || "";
    } catch (err) {
      clearInterval(timer);
      status.textContent = "";
      error.textContent = err.message;
    } finally {
      state.modelBusy = false;
      button.classList.remove("busy");
      button.removeAttribute("aria-busy");
      syncModelButtons();
    }
  }

  function evaluateModel() {
    const version = state.modelSel;
    if (!version) return;
    return runOp({
      button: $("evaluate"), status: $("model-status"), error: $("model-error"),
      progress: `Evaluating ${version} against the live version…`,
      work: async () => {
        const report = await api(`/api/models/${encodeURIComponent(version)}/evaluate`, { method: "POST" });
        patchMetrics(version, { evaluation: report });
        return `${version} ${report.passed ? "passes" : "fails"} the gate.`;
      },
    });
  }

  function replayModel() {
    const version = state.modelSel;
    if (!version) return;
    const raw = $("replay-limit").value.trim();
    const limit = Number(raw);
    if (raw && !(Number.isInteger(limit) && limit >= 1 && limit <= 100000)) {
      $("model-error").textContent = "Replay: the number of messages must be a whole number from 1 to 100000.";
      return;
    }
    return runOp({
      button: $("replay"), status: $("model-status"), error: $("model-error"),
      progress: `Replaying recent messages through ${version} and the live version…`,
      work: async () => {
        const report = await api(`/api/models/${encodeURIComponent(version)}/replay`,
          { method: "POST", body: raw ? { limit } : {} });
        state.replays[version] = report;
        const { groups, ...summary } = report;
        patchMetrics(version, { replay: summary });
        return `Replayed ${plural(report.messages, "message")}: ${report.changed} change.`;
      },
    });
  }

  async function deployModel(force) {
    const version = state.modelSel;
    if (!version) return;
    if (force && !window.confirm(`Deploy ${version} although it fails the gate?\n`
      + "Every worker will serve it within seconds; the deploy is recorded as forced, with your name.")) return;
    await runOp({
      button: force ? $("deploy-force") : $("deploy"), status: $("model-status"), error: $("model-error"),
      progress: force ? `Deploying ${version} (forced)…` : `Checking ${version} against the gate and deploying it…`,
      work: async () => {
        let reply;
        try {
          reply = await api(`/api/models/${encodeURIComponent(version)}/deploy`, { method: "POST", body: { force } });
        } catch (err) {
          if (err.status === 409) {
            // Refused by the gate: the server stored the report it judged by; show it.
            await loadModels();
            const m = modelOf(version);
            if (m && m.state !== "live" && m.metrics.evaluation && m.metrics.evaluation.passed === false) {
              state.refused.add(version);
              err.message = `Refused: ${err.message}`;
            }
          }
          throw err;
        }
        state.refused.delete(version);
        await loadModels();
        return `${version} is live${reply.event.forced ? " (forced)" : ""}; this worker serves ${reply.serving}.`;
      },
    });
  }

  async function rollbackModel() {
    const target = rollbackTarget();
    if (!target) return;
    if (!window.confirm(`Roll the router back from ${state.models.live.router} to ${target}?`)) return;
    await runOp({
      button: $("rollback"), status: $("models-status"), error: $("models-error"),
      progress: `Rolling back to ${target}…`,
      work: async () => {
        const reply = await api("/api/models/rollback", { method: "POST" });
        await loadModels();
        return `${reply.event.version} is live again; this worker serves ${reply.serving}.`;
      },
    });
  }

  // ------------------------------------------------------------------ wiring

  $("login").addEventListener("submit", async (e) => {
    e.preventDefault();
    const form = new FormData(e.target);
    $("login-error").textContent = "";
    try {
      await api("/api/auth/login", { method: "POST",
        body: { username: form.get("username"), password: form.get("password") } });
      e.target.reset();
      await start();
    } catch (err) {
      $("login-error").textContent = err.message;
    }
  });
  $("logout").addEventListener("click", async () => {
    await api("/api/auth/logout", { method: "POST" }).catch(() => null);
    showLogin();
  });
  $("filters").addEventListener("submit", (e) => { e.preventDefault(); loadQueue(); });
  $("filters").addEventListener("reset", () => setTimeout(loadQueue));
  $("reload").addEventListener("click", () => loadQueue());
  $("more").addEventListener("click", () => loadQueue(true));
  $("review-form").addEventListener("submit", submitReview);
  $("promote-form").addEventListener("submit", promote);
  $("promote-form").addEventListener("change", (e) => { if (e.target.name === "mode") loadEntries(); });
  $("entry-search").addEventListener("focus", loadEntries);
  $("entry-search").addEventListener("input", renderEntries);
  $("entry").addEventListener("change", () => {
    $("promote-form").elements.mode.value = "new_phrasing";
    showEntryAnswer();
  });
  $("changes-reload").addEventListener("click", loadChanges);
  $("stats-reload").addEventListener("click", loadStats);
  $("window").addEventListener("change", loadStats);
  $("models-reload").addEventListener("click", loadModels);
  $("evaluate").addEventListener("click", evaluateModel);
  $("replay").addEventListener("click", replayModel);
  $("deploy").addEventListener("click", () => deployModel(false));
  $("deploy-force").addEventListener("click", () => deployModel(true));
  $("rollback").addEventListener("click", rollbackModel);
  window.addEventListener("hashchange", showView);
  start();
})();
