// Shopbot staff console: sign in, watch the handoff queue live, claim, chat with the shopper, resolve.
(function () {
  "use strict";
  const $ = (id) => document.getElementById(id);
  const state = { me: null, status: "pending", handoffs: [], selected: null, ws: null, typingTimer: null,
                  myTyping: false, myTypingTimer: null, language: null };
  const languageNames = new Intl.DisplayNames(["en"], { type: "language" });

  async function api(path, options = {}) {
    const init = { credentials: "same-origin", headers: {}, ...options };
    if (init.body && typeof init.body !== "string") {
      init.body = JSON.stringify(init.body);
      init.headers["Content-Type"] = "application/json";
    }
    const resp = await fetch(path, init);
    const data = resp.headers.get("Content-Type")?.includes("json") ? await resp.json() : null;
    if (resp.status === 401 && path !== "/api/auth/login") showLogin();
    if (!resp.ok) throw new Error((data && data.error && data.error.message) || resp.statusText);
    return data;
  }

  function showLogin() {
    state.me = null;
    $("login").hidden = false;
    $("console").hidden = true;
    $("logout").hidden = true;
    $("who").textContent = "";
    if (state.ws) state.ws.close();
  }

  async function start() {
    try {
      state.me = await api("/api/auth/me");
    } catch (err) {
      return showLogin();
    }
    $("login").hidden = true;
    $("console").hidden = false;
    $("logout").hidden = false;
    $("who").textContent = `${state.me.username} (${state.me.role})`;
    connect();
    await loadQueue();
  }

  function connect() {
    const proto = location.protocol === "https:" ? "wss" : "ws";
    const ws = new WebSocket(`${proto}://${location.host}/api/handoffs/live`);
    state.ws = ws;
    ws.onmessage = (e) => onEvent(JSON.parse(e.data));
    ws.onclose = () => { if (state.me && state.ws === ws) setTimeout(connect, 1000); };
  }

  function onEvent(ev) {
    if (ev.type === "handoff_created" || ev.type === "handoff_updated") {
      loadQueue();
      if (state.selected && ev.handoff.conversation_id === state.selected.conversation_id) {
        state.selected = ev.handoff;
        renderHead();
      }
    } else if (ev.type === "message") {
      loadQueue();
      if (state.selected && ev.conversation_id === state.selected.conversation_id) {
        // A live turn carries no staff name (the transcript API adds it): use the event's, else
        // the assignee, so a reply is labelled with who wrote it before a reload as after.
        appendTurn({ ...ev.turn, staff: ev.turn.staff || ev.staff || state.selected.assignee });
        if (ev.sender === "shopper") showTyping(false);
      }
    } else if (ev.type === "typing" && ev.sender === "shopper") {
      if (state.selected && ev.conversation_id === state.selected.conversation_id) showTyping(ev.typing);
    }
  }

  function showTyping(on) {
    clearTimeout(state.typingTimer);
    $("typing").textContent = on ? "Shopper is typing…" : "";
    if (on) state.typingTimer = setTimeout(() => { $("typing").textContent = ""; }, 6000);
  }

  async function loadQueue() {
    const data = await api(`/api/handoffs?status=${state.status}`);
    state.handoffs = data.handoffs;
    $("count-pending").textContent = data.counts.pending;
    $("count-assigned").textContent = data.counts.assigned;
    renderQueue();
  }

  function waited(h) {
    const end = h.claimed_at || h.resolved_at ? h.waiting_s : (Date.now() - Date.parse(h.created_at)) / 1000;
    const s = Math.max(0, Math.round(end));
    return s < 60 ? `${s}s` : `${Math.floor(s / 60)}m ${s % 60}s`;
  }

  function renderQueue() {
    const list = $("queue");
    list.replaceChildren();
    if (!state.handoffs.length) {
      const li = document.createElement("li");
      li.className = "muted";
      li.textContent = "Nobody waiting.";
      list.append(li);
    }
    for (const h of state.handoffs) {
      const li = document.createElement("li");
      li.dataset.id = h.id;
      li.dataset.conversation = h.conversation_id;
      if (state.selected && state.selected.id === h.id) li.classList.add("selected");
      const top = document.createElement("div");
      top.className = "top";
      const name = document.createElement("strong");
      name.textContent = h.conversation_id.slice(0, 18);
      const wait = document.createElement("span");
      wait.className = "wait muted";
      wait.textContent = waited(h);
      top.append(name, wait);
      const reason = document.createElement("div");
      reason.innerHTML = `<span class="chip">${escape(h.reason.replace("_", " "))}</span>` +
        (h.assignee ? `<span class="chip">${escape(h.assignee)}</span>` : "") + languageChip(h.language);
      const last = document.createElement("div");
      last.className = "last";
      last.textContent = h.last_message || "…";
      li.append(top, reason, last);
      li.addEventListener("click", () => select(h));
      list.append(li);
    }
  }

  // The shopper's language when it is not English (the turn log's ISO 639-1 code), by its English name.
  function languageName(code) {
    if (!code || code === "en") return "";
    try {
      return languageNames.of(code) || code;
    } catch (err) {
      return code;  // not a language code Intl knows
    }
  }

  function languageChip(code) {
    const name = languageName(code);
    return name ? `<span class="chip language">${escape(name)}</span>` : "";
  }

  function escape(text) {
    const d = document.createElement("div");
    d.textContent = String(text ?? "");
    return d.innerHTML;
  }

  async function select(h) {
    state.selected = h;
    renderQueue();
    renderHead();
    state.language = null;
    renderFocus(null);
    const data = await api(`/api/conversations/${encodeURIComponent(h.conversation_id)}`);
    $("transcript").replaceChildren();
    data.turns.forEach(appendTurn);
    renderFocus(data.focus);
    // The latest language other than English the shopper wrote in, shown in the header.
    const spoken = data.turns.map((t) => t.language).filter((code) => languageName(code));
    state.language = spoken.length ? spoken[spoken.length - 1] : null;
    renderHead();
    showTyping(false);
  }

  function renderHead() {
    const h = state.selected;
    $("chat-title").textContent = h ? `Conversation ${h.conversation_id}` : "No conversation selected";
    $("chat-status").textContent = h ? `${h.status}${h.assignee ? " · " + h.assignee : ""}` : "";
    renderLanguage(h ? state.language : null);
    $("claim").hidden = !h || h.status !== "pending";
    const mine = h && h.status === "assigned" && (h.assignee === state.me.username || state.me.role === "admin");
    $("resolve").hidden = !h || h.status === "resolved";
    $("reply").hidden = !mine;
  }

  function renderLanguage(code) {
    let chip = $("chat-language");
    if (!chip) {
      chip = document.createElement("span");
      chip.id = "chat-language";
      chip.className = "chip language";
      $("chat-title").before(chip);
    }
    const name = languageName(code);
    chip.textContent = name;
    chip.title = name ? `The shopper wrote in ${name}` : "";
    chip.hidden = !name;
  }

  // The products the conversation is about (its dialogue state): what "it" or "the second one"
  // meant to the bot, so whoever takes over knows which product the shopper is looking at.
  function renderFocus(focus) {
    const product = focus && focus.product;
    const shown = (focus && focus.shown) || [];
    $("focus").hidden = !product && !shown.length;
    $("focus-product").replaceChildren(product ? productLine(product) : "none");
    $("focus-shown").replaceChildren(...shown.map((p) => {
      const li = document.createElement("li");
      li.append(productLine(p));
      return li;
    }));
    $("focus-shown").parentElement.hidden = !shown.length;
  }

  function productLine(p) {
    const span = document.createElement("span");
    span.className = "product";
    span.dataset.code = p.stock_code;
    const name = document.createElement("span");
    name.className = "name";
    name.textContent = p.name || "(no longer in the catalogue)";
    const price = document.createElement("span");
    price.className = "price";
    price.textContent = p.price == null ? "" : `£${Number(p.price).toFixed(2)}`;
    const code = document.createElement("span");
    code.className = "code muted";
    code.textContent = p.stock_code;
    span.append(name, price, code);
    return span;
  }

  function bubble(kind, text, meta) {
    const div = document.createElement("div");
    div.className = `msg ${kind}`;
    div.textContent = text;
    if (meta) div.append(meta);
    $("transcript").append(div);
    $("transcript").scrollTop = $("transcript").scrollHeight;
    return div;
  }

  function context(turn) {
    const box = document.createElement("div");
    box.className = "meta";
    const chips = [`<span class="chip route">${escape(turn.route)}</span>`];
    if (turn.label) chips.push(`<span class="chip">${escape(turn.label)}</span>`);
    if (turn.confidence != null) chips.push(`<span class="chip">conf ${Number(turn.confidence).toFixed(2)}</span>`);
    const language = languageChip(turn.language);
    if (language) chips.push(language);
    for (const f of turn.flags || []) chips.push(`<span class="chip flag">${escape(f)}</span>`);
    box.innerHTML = chips.join("");
    const evidence = (turn.evidence && turn.evidence.length ? turn.evidence : (turn.hits || []).map((h) => h.text));
    if (evidence.length) {
      const details = document.createElement("details");
      const summary = document.createElement("summary");
      summary.textContent = "Evidence";
      details.append(summary);
      for (const e of evidence.slice(0, 5)) {
        const p = document.createElement("div");
        p.textContent = "• " + e;
        details.append(p);
      }
      box.append(details);
    }
    return box;
  }

  // How the bot read a message that leaned on the conversation ("the second one" → its name).
  function readAs(turn) {
    const note = document.createElement("div");
    note.className = "read-as";
    note.dataset.turn = turn.turn_id;
    const label = document.createElement("span");
    label.className = "label";
    label.textContent = "Read as:";
    const reading = document.createElement("q");
    reading.textContent = turn.resolved;
    note.append(label, " ", reading);
    $("transcript").append(note);
    $("transcript").scrollTop = $("transcript").scrollHeight;
  }

  function appendTurn(turn) {
    if (turn.user_text) bubble("shopper", turn.user_text);
    if (turn.user_text && turn.resolved) readAs(turn);
    for (const r of turn.response || []) {
      const sender = r.sender || (turn.route === "human" ? turn.sender : "bot");
      let text = r.text || "";
      if (r.custom && r.custom.products) text += (text ? "\n" : "") + r.custom.products.map((p) => "🛍 " + p.name).join("\n");
      // An image the bot sent (a Rasa response's `image`): named by its address, as text.
      if (typeof r.image === "string") text += (text ? "\n" : "") + "🖼 " + r.image;
      if (sender === "staff") {
        const meta = document.createElement("div");
        meta.className = "meta";
        meta.textContent = turn.staff || "staff";
        bubble("staff", text, meta);
      } else {
        bubble("bot", text, turn.route === "human" ? null : context(turn));
      }
    }
  }

  async function claim() {
    try {
      state.selected = await api(`/api/handoffs/${state.selected.id}/claim`, { method: "POST" });
      renderHead();
      loadQueue();
    } catch (err) {
      $("send-error").textContent = err.message;
      alert(err.message);
    }
  }

  async function resolve() {
    state.selected = await api(`/api/handoffs/${state.selected.id}/resolve`, { method: "POST" });
    renderHead();
    loadQueue();
  }

  async function send(text) {
    $("send-error").textContent = "";
    text = text.trim();
    if (!text) return;
    try {
      await api(`/api/handoffs/${state.selected.id}/messages`, { method: "POST", body: { text } });
      $("text").value = "";
      typing(false);
    } catch (err) {
      $("send-error").textContent = err.message;
    }
  }

  function typing(on) {
    if (!state.ws || state.ws.readyState !== WebSocket.OPEN || !state.selected) return;
    if (on === state.myTyping) return;
    state.myTyping = on;
    state.ws.send(JSON.stringify({ type: "typing", conversation_id: state.selected.conversation_id, typing: on }));
  }

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
  document.querySelectorAll(".tabs button").forEach((b) => b.addEventListener("click", () => {
    document.querySelectorAll(".tabs button").forEach((x) => x.classList.toggle("active", x === b));
    state.status = b.dataset.status;
    loadQueue();
  }));
  $("claim").addEventListener("click", claim);
  $("resolve").addEventListener("click", resolve);
  $("send").addEventListener("submit", (e) => { e.preventDefault(); send($("text").value); });
  $("text").addEventListener("keydown", (e) => {
    if (e.key === "Enter" && !e.shiftKey) { e.preventDefault(); send($("text").value); }
  });
  $("text").addEventListener("input", () => {
    typing(true);
    clearTimeout(state.myTypingTimer);
    state.myTypingTimer = setTimeout(() => typing(false), 2000);
  });
  $("canned").addEventListener("click", (e) => {
    if (e.target.tagName === "BUTTON") { $("text").value = e.target.textContent; $("text").focus(); }
  });
  setInterval(() => document.querySelectorAll("#queue li[data-id]").forEach((li) => {
    const h = state.handoffs.find((x) => x.id === li.dataset.id);
    if (h) li.querySelector(".wait").textContent = waited(h);
  }), 1000);
  start();
})();
