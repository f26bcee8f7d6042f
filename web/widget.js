/*
 * Shopbot chat widget. Embed with one tag on any page:
 *   <script src="http://HOST:8080/widget.js" defer></script>
 * Optional attributes: data-title (panel heading), data-customer-id (sent as metadata.customer_id),
 * data-customer-token (the shop backend's signature of that id, sent as metadata.customer_token;
 * without a valid one the shopper is treated as anonymous),
 * data-language (sent as metadata.language), data-transport="rest" (Rasa's REST channel instead
 * of the default socket.io channel, which also brings staff replies, typing and history sync).
 * Plain JS, no build step; the only other resource is the socket.io client from the same server.
 * Server text is only ever set via textContent.
 */
(function () {
  "use strict";

  if (window.Shopbot && window.Shopbot.version) return; // embedded twice: keep the first

  const VERSION = "1";
  const HISTORY_LIMIT = 80; // entries kept in localStorage; older ones drop off
  const TOKEN_HEADER = "X-Shopbot-Conversation-Token"; // the REST channel's conversation token
  const MAX_MESSAGE_CHARS = 2000; // matches Settings.max_message_chars
  const CONNECT_WAIT_MS = 5000; // how long a message waits for the socket before it fails
  const ANSWER_WAIT_MS = 90000; // a slow generated answer on a busy server still arrives
  const TYPING_IDLE_MS = 1500; // the shopper counts as typing until this long after a key
  const STAFF_TYPING_MS = 30000; // a staff "typing" that is never turned off fades after this
  const STAFF_LABEL = "Shop assistant (person)";
  const HANDOFF_PAYLOAD = "/handoff";
  const HANDOFF_LABEL = "Talk to a person";
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
    customerToken: (script && script.dataset.customerToken) || "",
    language: (script && script.dataset.language) || "",
    transport: script && script.dataset.transport === "rest" ? "rest" : "socket",
  };
  // A card's price in its own currency (a product feed's card says which; the demo shop's is GBP).
  const formats = {};
  const price = {
    format(amount, currency) {
      const code = /^[A-Z]{3}$/.test(String(currency || "")) ? currency : "GBP";
      try {
        formats[code] = formats[code] || new Intl.NumberFormat("en-GB", { style: "currency", currency: code });
      } catch (err) {
        return amount.toFixed(2) + " " + code;
      }
      return formats[code].format(amount);
    },
  };

  function findOwnScript() {
    const all = document.querySelectorAll('script[src*="widget.js"]');
    return all.length ? all[all.length - 1] : null;
  }

  /** Metadata sent with every message (Rasa's REST `metadata`, rasa-webchat's `customData`). */
  function customData() {
    const data = {};
    if (config.customerId) data.customer_id = config.customerId;
    if (config.customerToken) data.customer_token = config.customerToken;
    if (config.language) data.language = config.language;
    return data;
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

  async function postJson(origin, path, payload, extraHeaders) {
    let res;
    try {
      res = await fetch(origin + path, {
        method: "POST",
        headers: Object.assign({ "Content-Type": "application/json", Accept: "application/json" }, extraHeaders),
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

  /**
   * Rasa REST transport. A transport has send(text) -> Promise<{messages, turnId}>,
   * feedback(turnId, value) -> Promise, typing(on) and reset(sender); a socket transport
   * also pushes messages, typing and history through the `events` given to it.
   */
  function createRestTransport(origin, getSender, events) {
    function post(text) {
      const token = events.getToken();
      return postJson(origin, "/webhooks/rest/webhook", {
        sender: getSender(),
        message: text,
        metadata: customData(),
      }, token ? { [TOKEN_HEADER]: token } : {});
    }
    return {
      kind: "rest",
      start() {},
      async send(text) {
        let out;
        try {
          out = await post(text);
        } catch (err) {
          // The conversation is bound to someone else (or its token is gone): start our own.
          if (err.code !== "forbidden") throw err;
          events.session(newSenderId());
          out = await post(text);
        }
        if (!Array.isArray(out.body)) throw new TransportError("bad reply", out.res.status, "bad_reply");
        const token = out.res.headers.get(TOKEN_HEADER);
        if (token) events.token(getSender(), token);
        return { messages: out.body, turnId: out.res.headers.get("X-Shopbot-Turn-Id") || "" };
      },
      feedback(turnId, value) {
        return postJson(origin, "/feedback", { conversation_id: getSender(), turn_id: turnId, value: value });
      },
      typing() {},
      reset() {},
    };
  }

  /** Loads the vendored socket.io client without taking over a page's own `window.io`. */
  function loadSocketClient(origin) {
    return new Promise((resolve, reject) => {
      const had = Object.prototype.hasOwnProperty.call(window, "io");
      const previous = window.io;
      const tag = document.createElement("script");
      tag.src = origin + "/vendor/socket.io.min.js";
      tag.async = true;
      tag.addEventListener("load", () => {
        const io = window.io;
        if (had) window.io = previous;
        else delete window.io;
        tag.remove();
        if (typeof io === "function") resolve(io);
        else reject(new TransportError("socket.io client unavailable", 0, "network_error"));
      });
      tag.addEventListener("error", () => {
        tag.remove();
        reject(new TransportError("socket.io client unavailable", 0, "network_error"));
      });
      document.head.append(tag);
    });
  }

  /** The bot_uttered payload without Shopbot's extras, plus who sent it and for which turn. */
  function readUttered(payload) {
    const meta = payload.metadata && typeof payload.metadata === "object" ? payload.metadata : {};
    const message = {};
    for (const [key, value] of Object.entries(payload)) {
      if (key !== "metadata" && key !== "turn_id" && key !== "sender") message[key] = value;
    }
    const sender = meta.sender === "staff" || payload.sender === "staff" ? "staff" : "bot";
    const turnId = String(meta.turn_id || payload.turn_id || "");
    return { message: message, sender: sender, turnId: turnId };
  }

  /**
   * Rasa socket.io transport (rasa-webchat's protocol): session_request with the stored id on
   * every (re)connect, then history_request. `events`: push({message, sender, turnId}),
   * typing(on), history({session_id, entries}), session(id).
   */
  function createSocketTransport(origin, getSender, events) {
    let socket = null;
    let ready = null; // the client script, loaded once
    let confirmed = false;
    let syncing = false; // a history_request is unanswered
    let pushedWhileSyncing = false;
    let inflight = null; // {buffer, resolve, reject}: one message at a time (the send button waits)
    const waiters = new Set();

    function start() {
      ready = loadSocketClient(origin).then((io) => {
        socket = io(origin, {
          path: "/socket.io/",
          transports: ["websocket", "polling"],
          tryAllTransports: true,
          reconnectionDelayMax: 4000,
          timeout: CONNECT_WAIT_MS * 2, // a stalled connection attempt is given up after this
        });
        socket.on("connect", () => socket.emit("session_request", sessionRequest(getSender())));
        socket.on("session_token", (data) => {
          if (data && typeof data.session_id === "string" && typeof data.conversation_token === "string") {
            events.token(data.session_id, data.conversation_token);
          }
        });
        socket.on("session_confirm", onConfirm);
        socket.on("bot_uttered", onUttered);
        socket.on("history", onHistory);
        socket.on("typing", (data) => events.typing(Boolean(data && data.typing)));
        socket.on("disconnect", onDisconnect);
        return socket;
      });
      return ready;
    }

    /** The stored id with its token (or the customer's claim): only that gets the conversation back. */
    function sessionRequest(id) {
      const request = { session_id: id, customData: customData() };
      const token = events.getToken();
      if (token) request.conversation_token = token;
      return request;
    }

    function onConfirm(data) {
      const id = typeof data === "string" ? data : data && data.session_id;
      if (typeof id !== "string" || !id) return;
      if (id !== getSender()) events.session(id);
      confirmed = true;
      for (const wake of waiters) wake();
      requestHistory(id);
    }

    function requestHistory(id) {
      syncing = true;
      pushedWhileSyncing = false;
      socket.emit("history_request", { session_id: id });
    }

    function onHistory(history) {
      if (!history) return;
      // A message pushed while the server read the transcript may be missing from this history,
      // and applying it would wipe that message from the screen: ask once more, it is stored by now.
      const again = syncing && pushedWhileSyncing && history.session_id;
      events.history(history);
      if (again) requestHistory(history.session_id);
      else syncing = false;
    }

    function onUttered(payload) {
      if (!payload || typeof payload !== "object") return;
      if (syncing) pushedWhileSyncing = true;
      const item = readUttered(payload);
      if (inflight && item.sender === "bot") inflight.buffer.push(item);
      else events.push(item);
    }

    function onDisconnect() {
      confirmed = false;
      if (inflight) inflight.reject(new TransportError("network", 0, "network_error"));
    }

    /** Resolves once the session is confirmed; a dropped socket is asked to reconnect now. */
    async function connected() {
      if (!ready) start();
      try {
        await ready;
      } catch (err) {
        throw new TransportError("network", 0, "network_error");
      }
      if (socket.connected && confirmed) return;
      if (!socket.connected) {
        // A fresh attempt now, rather than after the back-off wait or a stalled attempt.
        socket.disconnect();
        socket.connect();
      }
      await new Promise((resolve, reject) => {
        const wake = () => {
          clearTimeout(timer);
          waiters.delete(wake);
          resolve();
        };
        const timer = setTimeout(() => {
          waiters.delete(wake);
          reject(new TransportError("network", 0, "network_error"));
        }, CONNECT_WAIT_MS);
        waiters.add(wake);
      });
    }

    function settle(turnId, buffer) {
      const mine = [];
      for (const item of buffer) {
        if (item.turnId === turnId) mine.push(item.message);
        else events.push(item); // another tab's turn in the same conversation
      }
      return mine;
    }

    return {
      kind: "socket",
      start: start,
      async send(text) {
        await connected();
        const buffer = [];
        let ack;
        try {
          ack = await new Promise((resolve, reject) => {
            inflight = { buffer: buffer, resolve: resolve, reject: reject };
            const data = { message: text, session_id: getSender(), customData: customData() };
            socket.timeout(ANSWER_WAIT_MS).emit("user_uttered", data, (err, reply) => {
              if (err) reject(new TransportError("no answer in time", 504, "timeout"));
              else resolve(reply);
            });
          });
        } catch (err) {
          settle(null, buffer);
          throw err;
        } finally {
          inflight = null;
        }
        if (!ack || ack.ok !== true) {
          settle(null, buffer);
          const error = (ack && ack.error) || {};
          const status = error.code === "payload_too_large" ? 413 : 400;
          throw new TransportError(String(error.message || "rejected"), status, error.code);
        }
        const turnId = String(ack.turn_id || "");
        return { messages: settle(turnId, buffer), turnId: turnId };
      },
      feedback(turnId, value) {
        return postJson(origin, "/feedback", { conversation_id: getSender(), turn_id: turnId, value: value });
      },
      typing(on) {
        if (socket && socket.connected && confirmed) {
          socket.emit("user_typing", { session_id: getSender(), typing: on });
        }
      },
      reset(sender) {
        confirmed = false;
        if (socket && socket.connected) socket.emit("session_request", sessionRequest(sender));
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
      oninput: handlers.input,
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
      [icon("person"), HANDOFF_LABEL]
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

  /** One bot (or staff) turn. Messages come in Rasa's REST shapes or its socket.io shapes. */
  function renderBotTurn(entry, handlers) {
    const staff = entry.sender === "staff";
    const group = el("div", { class: "sb-msg sb-msg--bot" + (staff ? " sb-msg--staff" : "") }, [
      staff ? el("span", { class: "sb-sender" }, STAFF_LABEL) : visuallyHidden("Assistant: "),
    ]);
    for (const message of entry.messages) {
      if (typeof message.text === "string" && message.text) {
        group.append(el("p", { class: "sb-bubble" }, message.text));
      }
      const image = imageOf(message);
      if (image) group.append(el("img", { class: "sb-image", src: image, alt: "", loading: "lazy" }));
      const products = productsOf(message);
      if (products.length) group.append(renderProducts(products));
      const buttons = buttonsOf(message);
      if (buttons.length) group.append(renderButtons(buttons, handlers));
    }
    if (entry.turnId && !staff) group.append(renderFeedback(entry, handlers));
    return group;
  }

  function buttonsOf(message) {
    const buttons = Array.isArray(message.buttons) ? message.buttons : message.quick_replies;
    return Array.isArray(buttons) ? buttons : [];
  }

  /** Product cards: Rasa REST `custom` {type: "products"} or a socket.io generic template. */
  function productsOf(message) {
    const custom = message.custom;
    if (custom && custom.type === "products" && Array.isArray(custom.products)) {
      return custom.products.filter((p) => p && typeof p === "object");
    }
    const attachment = message.attachment;
    const payload = attachment && attachment.type === "template" ? attachment.payload : null;
    if (!payload || payload.template_type !== "generic" || !Array.isArray(payload.elements)) return [];
    return payload.elements
      .filter((e) => e && typeof e === "object")
      .map((e) => {
        const page = (Array.isArray(e.buttons) ? e.buttons : []).find((b) => b && b.type === "web_url");
        return {
          name: e.name || e.title, price: e.price, category: e.category, stock_code: e.stock_code,
          image: e.image || e.image_url, url: e.url || (page && page.url), availability: e.availability,
          currency: e.currency,
        };
      });
  }

  /** Only http(s) images: a server-sent `javascript:` or `data:` URL is never loaded. */
  function imageOf(message) {
    // socket.io (and the history): attachment {type: "image"}; Rasa's REST channel: "image".
    const attachment = message.attachment;
    let src = attachment && attachment.type === "image" && attachment.payload && attachment.payload.src;
    if (typeof src !== "string") src = message.image;
    return webUrl(src);
  }

  /** The URL when it is http(s), else "": nothing else is ever loaded or linked. */
  function webUrl(src) {
    if (typeof src !== "string" || !src) return "";
    try {
      const url = new URL(src, config.origin);
      return url.protocol === "https:" || url.protocol === "http:" ? url.href : "";
    } catch (err) {
      return "";
    }
  }

  const AVAILABILITY = {
    in_stock: "In stock", out_of_stock: "Out of stock", preorder: "Pre-order", backorder: "Back-order",
  };

  function renderProducts(products) {
    return el(
      "ul",
      { class: "sb-cards", "aria-label": "Products" },
      products.map((p) => {
        const amount = Number(p.price);
        const given = typeof p.price === "number" || (typeof p.price === "string" && p.price.trim());
        const hasPrice = Boolean(given) && Number.isFinite(amount);
        const stock = AVAILABILITY[p.availability] || "";
        const details = [p.category, p.stock_code ? "Item " + p.stock_code : "", stock].filter(Boolean);
        const image = webUrl(p.image);
        const page = webUrl(p.url);
        const name = displayName(p.name);
        return el("li", { class: "sb-card" }, [
          image ? el("img", { class: "sb-card-image", src: image, alt: name, loading: "lazy" }) : "",
          el("span", { class: "sb-card-top" }, [
            page
              ? el("a", { class: "sb-card-name", href: page, target: "_blank", rel: "noopener noreferrer" }, name)
              : el("span", { class: "sb-card-name" }, name),
            hasPrice ? el("span", { class: "sb-price" }, price.format(amount, p.currency)) : "",
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

  function renderTyping(who) {
    return el("div", { class: "sb-msg sb-msg--bot sb-typing", role: "status" }, [
      el("span", { class: "sb-bubble sb-dots", "aria-hidden": "true" }, [
        el("span"), el("span"), el("span"),
      ]),
      visuallyHidden(who + " is typing…"),
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

  /** JSON with sorted keys, so the same content always compares equal. */
  function stable(value) {
    if (Array.isArray(value)) return "[" + value.map(stable).join(",") + "]";
    if (value && typeof value === "object") {
      return "{" + Object.keys(value).sort().map((k) => JSON.stringify(k) + ":" + stable(value[k])).join(",") + "}";
    }
    return JSON.stringify(value === undefined ? null : value);
  }

  function signature(entries) {
    return stable(entries.map((e) => [e.kind, e.text || "", e.turnId || "", e.sender || "bot",
      e.feedback || "", e.messages || []]));
  }

  /** A server transcript entry as a stored entry; this device's labels and thumbs win. */
  function fromServer(entry, local) {
    if (!entry || typeof entry !== "object") return null;
    const turnId = typeof entry.turn_id === "string" ? entry.turn_id : "";
    if (entry.kind === "user" && typeof entry.text === "string") {
      const mine = local.find((e) => e.kind === "user" && turnId && e.turnId === turnId);
      const text = mine ? mine.text : entry.text === HANDOFF_PAYLOAD ? HANDOFF_LABEL : entry.text;
      return { kind: "user", text: text, turnId: turnId };
    }
    if (entry.kind !== "bot" || !Array.isArray(entry.messages)) return null;
    const mine = local.find((e) => e.kind === "bot" && turnId && e.turnId === turnId);
    return {
      kind: "bot",
      sender: entry.sender === "staff" ? "staff" : "bot",
      turnId: turnId,
      messages: entry.messages.filter((m) => m && typeof m === "object"),
      feedback: entry.feedback || (mine && mine.feedback) || "",
    };
  }

  // ----------------------------------------------------------------- widget

  function mount() {
    const store = createStore();
    let state = store.load();
    let pending = false;
    let staffTyping = null; // the indicator node while a staff member writes
    let staffTypingTimer = null;
    let typingSent = false;
    let typingTimer = null;
    const nodes = new WeakMap(); // entry → its node, to redraw a turn that grows
    const feedbackInFlight = new WeakSet(); // kept off the entries so it never reaches storage
    const getSender = () => state.sender;
    // The conversation's token (the server's proof that it is ours), kept with the id it is for.
    const conversation = {
      getToken: () => (state.token && state.token.id === state.sender ? state.token.value : ""),
      token: (id, value) => {
        state.token = { id: id, value: value };
        persist();
      },
      session: (id) => {
        state.sender = id;
        persist();
      },
    };
    const rest = () => createRestTransport(config.origin, getSender, conversation);
    let transport = config.transport === "rest"
      ? rest()
      : createSocketTransport(config.origin, getSender, Object.assign({
        push: pushMessage,
        typing: showStaffTyping,
        history: applyHistory,
      }, conversation));

    const handlers = {
      toggle: () => setOpen(!state.open, true),
      close: () => setOpen(false, true),
      submit: onSubmit,
      input: onInput,
      handoff: () => say(HANDOFF_PAYLOAD, HANDOFF_LABEL),
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

    renderAll();
    setOpen(state.open, false);
    const started = transport.start();
    if (started) {
      // No socket.io client (blocked script, CSP, AMD loader on the page): fall back to REST.
      started.catch(() => {
        transport = rest();
      });
    }

    function renderEntry(entry) {
      const node = entry.kind === "user" ? renderUser(entry) : renderBotTurn(entry, handlers);
      nodes.set(entry, node);
      return node;
    }

    function renderAll() {
      shell.log.replaceChildren(...state.entries.map(renderEntry));
      shell.log.scrollTop = shell.log.scrollHeight;
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
      if (staffTyping && node !== staffTyping) shell.log.append(staffTyping); // stays last
      shell.log.scrollTop = shell.log.scrollHeight;
    }

    /** A message the server pushed: a staff reply, or a turn sent from another tab. */
    function pushMessage(item) {
      if (item.sender === "staff") showStaffTyping(false);
      const last = state.entries[state.entries.length - 1];
      if (last && last.kind === "bot" && item.turnId && last.turnId === item.turnId) {
        last.messages.push(item.message);
        persist();
        const old = nodes.get(last);
        if (old) old.replaceWith(renderEntry(last));
        return;
      }
      append({ kind: "bot", sender: item.sender, turnId: item.turnId, messages: [item.message], feedback: "" });
    }

    function showStaffTyping(on) {
      clearTimeout(staffTypingTimer);
      if (!on) {
        if (staffTyping) staffTyping.remove();
        staffTyping = null;
        return;
      }
      if (!staffTyping) {
        staffTyping = renderTyping(STAFF_LABEL);
        staffTyping.classList.add("sb-typing--staff");
        showNode(staffTyping);
      }
      staffTypingTimer = setTimeout(() => showStaffTyping(false), STAFF_TYPING_MS);
    }

    /** The server's transcript is the record: it brings turns from other devices and staff. */
    function applyHistory(history) {
      if (!Array.isArray(history.entries) || history.session_id !== state.sender) return;
      if (pending) return; // a turn in flight; the next connect syncs again
      const entries = history.entries
        .map((entry) => fromServer(entry, state.entries))
        .filter(Boolean)
        .slice(-HISTORY_LIMIT);
      if (signature(entries) === signature(state.entries)) return;
      state.entries = entries;
      persist();
      renderAll();
      if (staffTyping) shell.log.append(staffTyping);
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

    /** Tells the shop the shopper is typing, once per burst of keys (debounced). */
    function onInput() {
      clearTimeout(typingTimer);
      if (!shell.input.value.trim()) {
        stopTyping();
        return;
      }
      if (!typingSent) {
        typingSent = true;
        transport.typing(true);
      }
      typingTimer = setTimeout(stopTyping, TYPING_IDLE_MS);
    }

    function stopTyping() {
      clearTimeout(typingTimer);
      if (!typingSent) return;
      typingSent = false;
      transport.typing(false);
    }

    function onSubmit(event) {
      event.preventDefault();
      const text = shell.input.value.trim();
      if (!text || pending) return;
      shell.input.value = "";
      stopTyping();
      say(text, text);
    }

    /** Show `label` as the user's bubble and send `text` (a payload may differ from its title). */
    function say(text, label) {
      if (pending) return;
      const entry = { kind: "user", text: label || text, turnId: "" };
      append(entry);
      deliver(text, entry);
    }

    async function deliver(text, entry) {
      setBusy(true);
      const typing = renderTyping("Assistant");
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
        entry.turnId = reply.turnId; // ties the label shown here to the server's transcript
        const messages = reply.messages.filter((m) => m && typeof m === "object");
        if (messages.length) append({ kind: "bot", turnId: reply.turnId, messages: messages, feedback: "" });
        else persist();
      } else {
        const bubble = renderError(failure, () => {
          bubble.remove();
          if (!pending) deliver(text, entry);
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
      showStaffTyping(false);
      transport.reset(state.sender);
      shell.log.replaceChildren();
      shell.input.focus();
    }

    return {
      open: () => setOpen(true, true),
      close: () => setOpen(false, true),
      reset: resetConversation,
      send: (text) => say(String(text), String(text)),
      transport: () => transport.kind,
    };
  }

  function start() {
    const api = mount();
    window.Shopbot = Object.assign(
      { version: VERSION, createRestTransport: createRestTransport, createSocketTransport: createSocketTransport },
      api
    );
  }

  window.Shopbot = { version: VERSION }; // claim the slot now so a second copy bails out early
  if (document.body) start();
  else document.addEventListener("DOMContentLoaded", start, { once: true });
})();
