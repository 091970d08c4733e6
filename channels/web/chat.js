// The customer web chat. Speaks Rasa's socket.io protocol (session_request / user_uttered / bot_uttered) through a
// small Socket.IO v5 client over one WebSocket (no library, no build step), plus the platform's additions:
// a signed session token (csbot_history replays the conversation after every reconnect), csbot_echo (lines typed
// in another tab) and csbot_typing. Everything a person or the bot wrote is put on the page as text, never HTML.
(function () {
  "use strict";
  var params = new URLSearchParams(location.hash.slice(1));
  var customerToken = params.get("customer_token") || "";
  var embedded = params.get("embed") === "1";
  var TOKEN_KEY = "csbot.session." + (customerToken ? "customer" : "visitor");
  var MAX_CHARS = 2000;
  var QUEUE_RE = /前面还有\s*(\d+)\s*位/;

  var $ = function (id) { return document.getElementById(id); };
  var log = $("log"), input = $("input"), typing = $("typing"), statusLine = $("status"), banner = $("banner");
  if (params.get("title")) { $("title").textContent = params.get("title"); document.title = params.get("title"); }
  if (embedded) {
    $("close").hidden = false;
    $("close").addEventListener("click", function () { parent.postMessage({ csbot: "close" }, "*"); });
  }

  // ---- a Socket.IO (Engine.IO v4) client over WebSocket ------------------------------------------------------
  function Socket(path, auth, on) {
    var ws = null, open = false, backoff = 500, stopped = false, self = this;
    function connect() {
      var proto = location.protocol === "https:" ? "wss://" : "ws://";
      ws = new WebSocket(proto + location.host + path + "?EIO=4&transport=websocket");
      ws.onmessage = function (m) {
        var d = String(m.data);
        if (d === "2") { ws.send("3"); return; }           // ping → pong
        if (d[0] === "0") { ws.send("40" + JSON.stringify(auth)); return; }  // engine open → socket.io connect
        if (d.slice(0, 2) === "40") { open = true; backoff = 500; on.connect(); return; }
        if (d.slice(0, 2) === "44") { stopped = true; on.refused(JSON.parse(d.slice(2) || "{}").message || ""); return; }
        if (d.slice(0, 2) === "42") {
          var ev = JSON.parse(d.slice(2));
          if (on.event) on.event(ev[0], ev[1]);
        }
      };
      ws.onclose = function () {
        var was = open; open = false;
        if (stopped) return;
        if (was) on.disconnect();
        setTimeout(connect, backoff);
        backoff = Math.min(backoff * 2, 8000);
      };
      ws.onerror = function () { try { ws.close(); } catch (e) { /* closing anyway */ } };
    }
    this.emit = function (event, data) {
      if (!open) return false;
      ws.send("42" + JSON.stringify([event, data]));
      return true;
    };
    this.connected = function () { return open; };
    this.drop = function () { if (ws) ws.close(); };  // used by tests and by the browser going offline
    connect();
    return self;
  }

  // ---- the page ----------------------------------------------------------------------------------------------
  var sessionId = null, outbox = [], agentName = null;

  function scrollDown() { log.scrollTop = log.scrollHeight; }
  function item(cls, who) {
    var li = document.createElement("li");
    li.className = cls;
    if (who) { var w = document.createElement("span"); w.className = "who"; w.textContent = who; li.appendChild(w); }
    var b = document.createElement("div"); b.className = "bubble"; li.appendChild(b);
    log.appendChild(li);
    return b;
  }
  function notice(text) { item("notice").textContent = text; scrollDown(); }
  function customerLine(text, pending, file) {
    if (/^\//.test(text) && !file) return null;  // a button's payload: its title was shown when it was clicked
    var b = item("customer" + (pending ? " pending" : ""));
    if (file) fileView(b, file); else b.textContent = text;
    scrollDown();
    return b.parentNode;
  }
  function safeSrc(src) { return typeof src === "string" && /^(https?:\/\/|\/)/.test(src) ? src : null; }
  // a photo is shown; another file (a PDF) is a link that downloads it
  function fileView(b, file) {
    var src = safeSrc(file.url);
    if (!src) return;
    if (/^image\//.test(file.content_type || "")) {
      var img = document.createElement("img"); img.alt = file.name || "图片"; img.src = src;
      img.addEventListener("load", scrollDown);
      b.appendChild(img);
    } else {
      var a = document.createElement("a"); a.className = "file"; a.href = src; a.target = "_blank"; a.rel = "noopener noreferrer";
      a.textContent = "文件：" + (file.name || "未命名");
      b.appendChild(a);
    }
  }

  function botLine(msg) {
    var meta = msg.metadata || {};
    if (meta.notice) { notice(msg.text || ""); return; }
    var agent = meta.agent && meta.agent.name;
    var b = item(agent ? "agent" : "bot", agent ? "客服 " + agent : "智能助手");
    if (msg.text) b.appendChild(document.createTextNode(msg.text));
    var att = msg.attachment;
    if (att && att.type === "image" && att.payload && safeSrc(att.payload.src)) {
      var img = document.createElement("img"); img.alt = "图片"; img.src = safeSrc(att.payload.src);
      img.addEventListener("load", scrollDown);
      b.appendChild(img);
    }
    if (msg.custom && msg.custom.file) fileView(b, msg.custom.file);
    var order = msg.custom && msg.custom.order;
    if (order) {
      var card = document.createElement("div"); card.className = "card";
      var h = document.createElement("b"); h.textContent = "订单 " + (order.order_no || ""); card.appendChild(h);
      ["status", "goods", "logistics"].forEach(function (k) {
        if (order[k]) { var p = document.createElement("div"); p.textContent = order[k]; card.appendChild(p); }
      });
      b.appendChild(card);
    }
    if (msg.quick_replies && msg.quick_replies.length) {
      var row = document.createElement("div"); row.className = "replies";
      msg.quick_replies.forEach(function (q) {
        var btn = document.createElement("button"); btn.type = "button"; btn.textContent = q.title;
        btn.addEventListener("click", function () {
          Array.prototype.forEach.call(row.querySelectorAll("button"), function (x) { x.disabled = true; });
          send(q.payload, q.title);
        });
        row.appendChild(btn);
      });
      b.appendChild(row);
    }
    track(msg.text || "", agent);
    scrollDown();
    if (agent) { unseen = true; reportSeen(); }
  }

  // an agent's line on a visible screen: the platform needs no push to the customer's phone for it
  // (at most one report per 1.5 s, the last one delayed rather than dropped: the server ignores faster ones)
  var unseen = false, lastSeen = 0, seenTimer = null;
  function reportSeen() {
    if (!unseen || document.visibilityState !== "visible" || !socket || !socket.connected()) return;
    var wait = lastSeen + 1500 - Date.now();
    if (wait > 0) {
      if (!seenTimer) seenTimer = setTimeout(function () { seenTimer = null; reportSeen(); }, wait);
      return;
    }
    unseen = false; lastSeen = Date.now();
    socket.emit("csbot_seen", {});
  }
  document.addEventListener("visibilitychange", reportSeen);

  // what the header says: the bot, a place in the queue, or the agent's name
  function track(text, agent) {
    var m = QUEUE_RE.exec(text);
    if (agent) { agentName = agent; statusLine.textContent = "客服 " + agent + " 正在为您服务"; }
    else if (m) { agentName = null; statusLine.textContent = "排队中 · 前面还有 " + m[1] + " 位"; }
    else if (/人工服务(已|先)?结束/.test(text)) { agentName = null; statusLine.textContent = "智能助手为您服务"; }
  }

  function render(items) {
    log.textContent = "";
    statusLine.textContent = "智能助手为您服务";
    items.forEach(function (it) { if (it.from === "customer") customerLine(it.text, false, it.file); else botLine(it); });
    outbox.forEach(function (o) { o.li = customerLine(o.shown, true, o.file); });
  }

  function setTyping(on) { typing.hidden = !on; if (on) scrollDown(); }

  function send(message, shown, file) {
    message = (message || "").trim();
    if (!message) return;
    if (message.length > MAX_CHARS) { notice("消息太长啦（最多 " + MAX_CHARS + " 个字），分几条发给我吧～"); return; }
    var entry = { message: message, shown: shown || message, file: file || null, li: null };
    var packet = { message: message, session_id: sessionId };
    if (file) packet.file = { url: file.url, name: file.name };
    if (sessionId && socket.emit("user_uttered", packet)) {
      customerLine(entry.shown, false, entry.file);
      setTyping(true);
    } else {
      entry.li = customerLine(entry.shown, true, entry.file);  // sent when the connection is back
      outbox.push(entry);
    }
  }

  // a photo or a PDF: uploaded over HTTP with the session token, then sent as a message carrying its link
  function upload(f) {
    var token = localStorage.getItem(TOKEN_KEY);
    if (!token) { notice("还没连上客服，请稍后再发～"); return; }
    $("attach").disabled = true;
    fetch("upload?name=" + encodeURIComponent(f.name || ""), {
      method: "POST", body: f,
      headers: { Authorization: "Bearer " + token, "Content-Type": f.type || "application/octet-stream" }
    }).then(function (r) {
      return r.json().catch(function () { return {}; }).then(function (d) {
        if (!r.ok) throw new Error(d.error || "文件没有发出去，请稍后再试");
        send("/send_file", d.name, d);
      });
    }).catch(function (e) { notice(e.message && /[\u4e00-\u9fa5]/.test(e.message) ? e.message : "文件没有发出去，请检查网络后重试"); })
      .then(function () { $("attach").disabled = false; $("file").value = ""; });
  }
  $("attach").addEventListener("click", function () { $("file").click(); });
  $("file").addEventListener("change", function () { if (this.files && this.files[0]) upload(this.files[0]); });

  var socket = new Socket("/socket.io/", customerToken ? { customer_token: customerToken } : {}, {
    connect: function () {
      banner.hidden = true;
      socket.emit("session_request", { session_id: sessionId, session_token: localStorage.getItem(TOKEN_KEY), since: 0 });
    },
    disconnect: function () { banner.textContent = "网络已断开，正在重新连接…"; banner.hidden = false; setTyping(false); },
    refused: function (why) {
      banner.textContent = why === "customer token does not verify" ? "登录已过期，请刷新页面后再试" : "暂时无法连接客服，请稍后再试";
      banner.hidden = false;
    },
    event: function (name, data) {
      if (name === "session_confirm") {
        sessionId = typeof data === "string" ? data : data.session_id;
        if (data && data.session_token) localStorage.setItem(TOKEN_KEY, data.session_token);
      } else if (name === "csbot_history") {
        render((data && data.items) || []);
        var waiting = outbox; outbox = [];
        waiting.forEach(function (o) {
          if (o.li) o.li.remove();
          send(o.message, o.shown, o.file);
        });
      } else if (name === "bot_uttered") {
        setTyping(false);
        botLine(data || {});
      } else if (name === "csbot_echo") {
        customerLine((data && data.text) || "", false, data && data.file);
      } else if (name === "csbot_typing") {
        setTyping(Boolean(data && data.typing));
      }
    }
  });
  window.csbotChat = { socket: socket, send: send };  // for the snippet's host page and the browser tests

  $("composer").addEventListener("submit", function (e) {
    e.preventDefault();
    send(input.value);
    input.value = "";
    input.focus();
  });
  input.addEventListener("keydown", function (e) {
    if (e.key === "Enter" && !e.shiftKey && !e.isComposing) { e.preventDefault(); $("composer").requestSubmit(); }
  });
  window.addEventListener("online", function () { if (!socket.connected()) socket.drop(); });
})();
