/*
 * Shopbot chat widget. Embed with one tag on any page:
 *   <script src="http://HOST:8080/widget.js" defer></script>
 * Optional attributes: data-title (panel heading), data-customer-id (sent as metadata.customer_id).
 * Plain JS, no build step, no external resources. Server text is only ever set via textContent.
 */
(function () {
  "use strict";

  if (window.Shopbot && window.Shopbot.version) return; // embedded twice: keep the first

  const VERSION = "1";
  const HISTORY_LIMIT = 80; // entries kept in localStorage; older ones drop off
  const MAX_MESSAGE_CHARS = 2000; // matches Settings.max_message_chars
  const SVG_NS = "http://www.w3.org/2000/svg";
  const ICONS = {
    chat: "M4 4h16a2 2 0 0 1 2 2v10a2 2 0 0 1-2 2H9l-5 4v-4H4a2 2 0 0 1-2-2V6a2 2 0 0 1 2-2z",
    close: "M6 6l12 12M18 6L6 18",
    refresh: "M20 11a8 8 0 1 0-2.3 5.7M20 4v7h-7",
    send: "M3 20l18-8L3 4l2 8-2 8zM5 12h10",
    up: "M7 11v9H4v-9h3zm0 0l4-8a2 2 0 0 1 2 2v4h5a2 2 0 0 1 2 2.3l-1.2 7A2 2 0 0 1 16.8 20H7",
    down: "M7 13V4H4v9h3zm0 0l4 8a2 2 0 0 0 2-2v-4h5a2 2 0 0 0 2-2.3l-1.2-7A2 2 0 0 0 16.8 4H7",
    person: "M12 12a4 4 0 1 0 0-8 4 4 0 0 0 0 8zm-7 8a7 7 0 0 1 14 0",
  };

  const script = document.currentScript || findOwnScript();
  const config = {
    origin: new URL(script ? script.src : location.href, location.href).origin,
    title: (script && script.dataset.title) || "Shop assistant",
    customerId: (script && script.dataset.customerId) || "",
  };
  const price = new Intl.NumberFormat("en-GB", { style: "currency", currency: "GBP" });

  function findOwnScript() {
    const all = document.querySelectorAll('script[src*="widget.js"]');
    return all.length ? all[all.length - 1] : null;
  }

  // ---------------------------------------------------------------- storage

  /** Conversation state persisted per server origin and customer, so logins don't share history. */
  function createStore() {
    const key = "shopbot:v" + VERSION + ":" + config.origin + ":" + (config.customerId || "guest");
    let memory = null; // fallback when localStorage is blocked (private mode, sandboxed iframe)

    function read() {
      try {
        const raw = window.localStorage.getItem(key);
        if (raw) return JSON.parse(raw);
      } catch (err) {
        if (memory) return memory;
      }
      return memory;
    }

    function write(state) {
      memory = state;
      try {
        window.localStorage.setItem(key, JSON.stringify(state));
      } catch (err) {
        /* quota or blocked storage: the in-memory copy still works for this page */
      }
    }

    function load() {
      const state = read();
      if (state && typeof state.sender === "string" && Array.isArray(state.entries)) return state;
      return { sender: newSenderId(), entries: [], open: false };
    }

    return { load: load, save: write };
  }

  function newSenderId() {
    // crypto.randomUUID needs a secure context; the widget is often served over plain http.
    const bytes = new Uint8Array(16);
    window.crypto.getRandomValues(bytes);
    return "web-" + Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
  }

  // -------------------------------------------------------------- transport

  class TransportError extends Error {
    constructor(message, status, code) {
      super(message);
      this.status = status;
      this.code = code;
    }
  }

  /**
   * Rasa REST transport. The whole wire protocol lives here so a socket.io transport
   * can replace it: anything with send(text) -> Promise<{messages, turnId}> and
   * feedback(turnId, value) -> Promise works.
   */
  function createRestTransport(origin, getSender) {
    async function postJson(path, payload) {
      let res;
      try {
        res = await fetch(origin + path, {
          method: "POST",
          headers: { "Content-Type": "application/json", Accept: "application/json" },
          body: JSON.stringify(payload),
        });
      } catch (err) {
        throw new TransportError("network", 0, "network_error");
      }
      const body = await res.json().catch(() => null);
      if (!res.ok) {
        const error = (body && body.error) || {};
        throw new TransportError(String(error.message || res.statusText), res.status, error.code);
      }
      return { res: res, body: body };
    }

    return {
      async send(text) {
        const metadata = config.customerId ? { customer_id: config.customerId } : {};
        const out = await postJson("/webhooks/rest/webhook", {
          sender: getSender(),
          message: text,
          metadata: metadata,
        });
        if (!Array.isArray(out.body)) throw new TransportError("bad reply", out.res.status, "bad_reply");
        return { messages: out.body, turnId: out.res.headers.get("X-Shopbot-Turn-Id") || "" };
      },
      async feedback(turnId, value) {
        await postJson("/feedback", { conversation_id: getSender(), turn_id: turnId, value: value });
      },
    };
  }

  // -------------------------------------------------------------------- DOM

  /** Element builder; children are nodes or strings (strings become text nodes, never HTML). */
  function el(tag, attrs, children) {
    const node = document.createElement(tag);
    for (const [name, value] of Object.entries(attrs || {})) {
      if (value === false || value === null || value === undefined) continue;
      if (name === "class") node.className = value;
      else if (name.startsWith("on")) node.addEventListener(name.slice(2), value);
      else node.setAttribute(name, value === true ? "" : String(value));
    }
    for (const child of [].concat(children || [])) {
      node.append(typeof child === "string" ? document.createTextNode(child) : child);
    }
    return node;
  }

  function icon(name) {
    const svg = document.createElementNS(SVG_NS, "svg");
    svg.setAttribute("viewBox", "0 0 24 24");
    svg.setAttribute("aria-hidden", "true");
    svg.setAttribute("focusable", "false");
    svg.setAttribute("class", "sb-icon");
    const path = document.createElementNS(SVG_NS, "path");
    path.setAttribute("d", ICONS[name]);
    svg.append(path);
    return svg;
  }

  function visuallyHidden(text) {
    return el("span", { class: "sb-sr" }, text);
  }

  function buildShell(handlers) {
    const launcher = el(
      "button",
      {
        type: "button",
        class: "sb-launcher",
        "aria-label": "Open chat: " + config.title,
        "aria-expanded": "false",
        "aria-controls": "sb-panel",
        onclick: handlers.toggle,
      },
      [icon("chat")]
    );
    const log = el("div", {
      class: "sb-log",
      role: "log",
      "aria-live": "polite",
      "aria-label": "Conversation",
      tabindex: "0",
    });
    const input = el("input", {
      class: "sb-input",
      id: "sb-input",
      type: "text",
      autocomplete: "off",
      maxlength: String(MAX_MESSAGE_CHARS),
      placeholder: "Ask about products, orders, delivery…",
    });
    const sendButton = el("button", { type: "submit", class: "sb-send", "aria-label": "Send" }, [
      icon("send"),
    ]);
    const form = el("form", { class: "sb-form", onsubmit: handlers.submit }, [
      el("label", { class: "sb-sr", for: "sb-input" }, "Your message"),
      input,
      sendButton,
    ]);
    const handoff = el(
      "button",
      { type: "button", class: "sb-handoff", onclick: handlers.handoff },
      [icon("person"), "Talk to a person"]
    );
    const header = el("header", { class: "sb-header" }, [
      el("h2", { class: "sb-title", id: "sb-title" }, config.title),
      el(
        "button",
        { type: "button", class: "sb-icon-button sb-reset", "aria-label": "New conversation",
          title: "New conversation", onclick: handlers.reset },
        [icon("refresh")]
      ),
      el(
        "button",
        { type: "button", class: "sb-icon-button sb-close", "aria-label": "Close chat",
          title: "Close chat", onclick: handlers.close },
        [icon("close")]
      ),
    ]);
    const panel = el(
      "section",
      { class: "sb-panel", id: "sb-panel", role: "dialog", "aria-labelledby": "sb-title",
        hidden: true, onkeydown: handlers.keydown },
      [header, log, el("div", { class: "sb-footer" }, [handoff, form])]
    );
    return { launcher, panel, log, input, sendButton, handoff };
  }

  // -------------------------------------------------------------- rendering

  function renderUser(entry) {
    return el("div", { class: "sb-msg sb-msg--user" }, [
      visuallyHidden("You: "),
      el("p", { class: "sb-bubble" }, entry.text),
    ]);
  }

  function renderBotTurn(entry, handlers) {
    const group = el("div", { class: "sb-msg sb-msg--bot" }, [visuallyHidden("Assistant: ")]);
    for (const message of entry.messages) {
      if (typeof message.text === "string" && message.text) {
        group.append(el("p", { class: "sb-bubble" }, message.text));
      }
      const products = productsOf(message);
      if (products.length) group.append(renderProducts(products));
      if (Array.isArray(message.buttons) && message.buttons.length) {
        group.append(renderButtons(message.buttons, handlers));
      }
    }
    if (entry.turnId) group.append(renderFeedback(entry, handlers));
    return group;
  }

  function productsOf(message) {
    const custom = message.custom;
    if (!custom || custom.type !== "products" || !Array.isArray(custom.products)) return [];
    return custom.products.filter((p) => p && typeof p === "object");
  }

  function renderProducts(products) {
    return el(
      "ul",
      { class: "sb-cards", "aria-label": "Products" },
      products.map((p) => {
        const amount = Number(p.price);
        const given = typeof p.price === "number" || (typeof p.price === "string" && p.price.trim());
        const hasPrice = Boolean(given) && Number.isFinite(amount);
        const details = [p.category, p.stock_code ? "Item " + p.stock_code : ""].filter(Boolean);
        return el("li", { class: "sb-card" }, [
          el("span", { class: "sb-card-top" }, [
            el("span", { class: "sb-card-name" }, displayName(p.name)),
            hasPrice ? el("span", { class: "sb-price" }, price.format(amount)) : "",
          ]),
          details.length ? el("span", { class: "sb-card-meta" }, details.map(String).join(" · ")) : "",
        ]);
      })
    );
  }

  /** Catalogue names are often SHOUTED in capitals; show those in title case instead. */
  function displayName(name) {
    const text = String(name || "Unnamed item");
    if (text !== text.toUpperCase()) return text;
    const wordStart = /(^|[\s(/-])(\p{L})/gu;
    return text.toLowerCase().replace(wordStart, (_, lead, letter) => lead + letter.toUpperCase());
  }

  function renderButtons(buttons, handlers) {
    return el(
      "div",
      { class: "sb-quick", role: "group", "aria-label": "Suggested replies" },
      buttons
        .filter((b) => b && typeof b.payload === "string")
        .map((b) => {
          const title = String(b.title || b.payload);
          return el(
            "button",
            { type: "button", class: "sb-quick-button", onclick: () => handlers.say(b.payload, title) },
            title
          );
        })
    );
  }

  function renderFeedback(entry, handlers) {
    const status = el("span", { class: "sb-feedback-status", role: "status" },
      entry.feedback ? "Thanks for the feedback" : "");
    const bar = el("div", { class: "sb-feedback", role: "group", "aria-label": "Was this helpful?" });
    const buttons = ["up", "down"].map((value) =>
      el(
        "button",
        {
          type: "button",
          class: "sb-feedback-button",
          "data-value": value,
          "aria-label": value === "up" ? "Helpful" : "Not helpful",
          title: value === "up" ? "Helpful" : "Not helpful",
          "aria-pressed": entry.feedback === value ? "true" : "false",
          onclick: () => handlers.feedback(entry, value, buttons, status),
        },
        [icon(value)]
      )
    );
    bar.append(...buttons, status);
    return bar;
  }

  function renderTyping() {
    return el("div", { class: "sb-msg sb-msg--bot sb-typing", role: "status" }, [
      el("span", { class: "sb-bubble sb-dots", "aria-hidden": "true" }, [
        el("span"), el("span"), el("span"),
      ]),
      visuallyHidden("Assistant is typing…"),
    ]);
  }

  function errorText(err) {
    if (err instanceof TransportError && err.status >= 400 && err.status < 500 && err.message) {
      return "Sorry, I couldn't send that: " + err.message;
    }
    if (err instanceof TransportError && err.status === 0) {
      return "Sorry, I can't reach the shop right now. Please check your connection and try again.";
    }
    return "Sorry, something went wrong on our side. Please try again in a moment.";
  }

  function renderError(err, retry) {
    return el("div", { class: "sb-msg sb-msg--bot sb-error", role: "alert" }, [
      el("p", { class: "sb-bubble" }, errorText(err)),
      el("button", { type: "button", class: "sb-quick-button sb-retry", onclick: retry }, "Try again"),
    ]);
  }

  // ----------------------------------------------------------------- widget

  function mount() {
    const store = createStore();
    let state = store.load();
    let pending = false;
    const feedbackInFlight = new WeakSet(); // kept off the entries so it never reaches storage
    const transport = createRestTransport(config.origin, () => state.sender);

    const handlers = {
      toggle: () => setOpen(!state.open, true),
      close: () => setOpen(false, true),
      submit: onSubmit,
      handoff: () => say("/handoff", "Talk to a person"),
      reset: resetConversation,
      keydown: (event) => {
        if (event.key === "Escape") setOpen(false, true);
      },
      say: say,
      feedback: sendFeedback,
    };

    const host = el("div", { id: "shopbot-widget", "data-shopbot": VERSION });
    const root = host.attachShadow({ mode: "open" });
    const shell = buildShell(handlers);
    const frame = el("div", { class: "sb-root" }, [shell.panel, shell.launcher]);
    // Hidden until the stylesheet is in, so the page never flashes an unstyled panel. Set through
    // CSSOM, not a style attribute, so a page's CSP without 'unsafe-inline' still allows it.
    frame.style.visibility = "hidden";
    const reveal = () => frame.style.removeProperty("visibility");
    const sheet = el("link", { rel: "stylesheet", href: config.origin + "/widget.css" });
    sheet.addEventListener("load", reveal);
    sheet.addEventListener("error", reveal);
    setTimeout(reveal, 3000);
    root.append(sheet, frame);
    document.body.append(host);

    for (const entry of state.entries) shell.log.append(renderEntry(entry));
    setOpen(state.open, false);

    function renderEntry(entry) {
      return entry.kind === "user" ? renderUser(entry) : renderBotTurn(entry, handlers);
    }

    function persist() {
      state.entries = state.entries.slice(-HISTORY_LIMIT);
      store.save(state);
    }

    function append(entry) {
      state.entries.push(entry);
      persist();
      showNode(renderEntry(entry));
    }

    function showNode(node) {
      shell.log.append(node);
      shell.log.scrollTop = shell.log.scrollHeight;
    }

    function setOpen(open, moveFocus) {
      state.open = open;
      persist();
      shell.panel.hidden = !open;
      shell.launcher.setAttribute("aria-expanded", String(open));
      shell.launcher.classList.toggle("sb-launcher--open", open);
      if (!open) {
        if (moveFocus) shell.launcher.focus();
        return;
      }
      shell.log.scrollTop = shell.log.scrollHeight;
      if (moveFocus) shell.input.focus();
    }

    function setBusy(busy) {
      pending = busy;
      shell.sendButton.disabled = busy;
      shell.handoff.disabled = busy;
      shell.panel.setAttribute("aria-busy", String(busy));
    }

    function onSubmit(event) {
      event.preventDefault();
      const text = shell.input.value.trim();
      if (!text || pending) return;
      shell.input.value = "";
      say(text, text);
    }

    /** Show `label` as the user's bubble and send `text` (a payload may differ from its title). */
    function say(text, label) {
      if (pending) return;
      append({ kind: "user", text: label || text });
      deliver(text);
    }

    async function deliver(text) {
      setBusy(true);
      const typing = renderTyping();
      showNode(typing);
      let reply = null;
      let failure = null;
      try {
        reply = await transport.send(text);
      } catch (err) {
        failure = err;
      }
      // Ready for the next message before the answer shows, so a quick follow-up is never dropped.
      typing.remove();
      setBusy(false);
      if (reply) {
        const messages = reply.messages.filter((m) => m && typeof m === "object");
        if (messages.length) append({ kind: "bot", turnId: reply.turnId, messages: messages, feedback: "" });
      } else {
        const bubble = renderError(failure, () => {
          bubble.remove();
          if (!pending) deliver(text);
        });
        showNode(bubble);
      }
      if (!shell.panel.hidden) shell.input.focus();
    }

    async function sendFeedback(entry, value, buttons, status) {
      if (entry.feedback === value || feedbackInFlight.has(entry)) return;
      const previous = entry.feedback;
      feedbackInFlight.add(entry);
      markFeedback(buttons, value);
      status.textContent = "";
      try {
        await transport.feedback(entry.turnId, value);
        entry.feedback = value;
        status.textContent = "Thanks for the feedback";
        persist();
      } catch (err) {
        markFeedback(buttons, previous);
        status.textContent = "Couldn't save your feedback, please try again.";
      } finally {
        feedbackInFlight.delete(entry);
      }
    }

    function markFeedback(buttons, value) {
      for (const b of buttons) b.setAttribute("aria-pressed", String(b.dataset.value === value));
    }

    function resetConversation() {
      state = { sender: newSenderId(), entries: [], open: true };
      persist();
      shell.log.replaceChildren();
      shell.input.focus();
    }

    return {
      open: () => setOpen(true, true),
      close: () => setOpen(false, true),
      reset: resetConversation,
      send: (text) => say(String(text), String(text)),
    };
  }

  function start() {
    const api = mount();
    window.Shopbot = Object.assign({ version: VERSION, createRestTransport: createRestTransport }, api);
  }

  window.Shopbot = { version: VERSION }; // claim the slot now so a second copy bails out early
  if (document.body) start();
  else document.addEventListener("DOMContentLoaded", start, { once: true });
})();
