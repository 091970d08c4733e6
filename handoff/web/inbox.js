// The agent inbox: log in, go online, accept offers, chat with several customers, transfer, close.
// Talks only to /api/auth and /api/agent (HTTP + the WebSocket feed, resumed from the last seq it saw).
// Everything customers, bots or colleagues wrote is put on the page as text (textContent), never as HTML.
(function () {
  "use strict";
  var $ = function (id) { return document.getElementById(id); };
  var store = window.sessionStorage, keep = window.localStorage;
  var REASONS = { complaint: "投诉", after_sales: "售后", other: "咨询" };
  var STATES = { waiting: "排队中", active: "服务中", warning: "等待客户回复", closed: "已结束" };
  var CANNED = [
    "您好，请问有什么可以帮您？",
    "麻烦提供一下订单号，我马上帮您查询～",
    "我帮您核实一下，请稍等一两分钟哦～",
    "给您带来不便非常抱歉，这边马上为您处理。",
    "退货申请已经帮您提交了，快递上门取件后 1-3 天退款到账。",
    "还有其他可以帮您的吗？没有的话祝您生活愉快～"
  ];
  // an anonymous web visitor's id is a random conversation id: show a short handle instead
  function customerName(c) { return c.name || (/^w-/.test(c.id) ? "访客 " + c.id.slice(2, 8) : c.id); }

  var token = store.getItem("csbot.agent.token"), me = null;
  var cursor = Number(store.getItem("csbot.agent.cursor") || 0);
  var chats = {}, offers = {}, selected = null, ws = null, wsBackoff = 500, timers = [];

  // ---- HTTP --------------------------------------------------------------------------------------------------
  function api(method, path, body) {
    var opts = { method: method, headers: { Authorization: "Bearer " + token } };
    if (body !== undefined) { opts.headers["Content-Type"] = "application/json"; opts.body = JSON.stringify(body); }
    return fetch(path, opts).then(function (r) {
      if (r.status === 401) { expired(); throw new Error("unauthorised"); }
      if (r.status === 204) return null;
      return r.json().then(function (data) {
        if (!r.ok) throw new Error((data && data.error) || ("HTTP " + r.status));
        return data;
      });
    });
  }
  function fail(e) { if (e && e.message !== "unauthorised") toast(e.message); }
  function toast(text) {
    var li = document.createElement("li"); li.className = "divider"; li.textContent = "⚠ " + text;
    if (selected) { $("messages").appendChild(li); scrollDown(); } else { window.alert(text); }
  }

  // ---- log in / out ------------------------------------------------------------------------------------------
  function showLogin(why) {
    $("login-why").textContent = why || "";
    $("login").hidden = false;
    $("desk").hidden = !me;  // an expired session keeps the desk (and its drafts) behind the form
    if (me) { $("login").classList.add("over"); $("login-name").value = me.login; }
    $("login-password").focus();
  }
  function expired() {
    token = null; store.removeItem("csbot.agent.token");
    if (ws) { ws.onclose = null; ws.close(); ws = null; }
    showLogin("登录已过期，请重新登录（未发送的草稿已保留）");
  }
  $("login-form").addEventListener("submit", function (e) {
    e.preventDefault();
    $("login-error").textContent = "";
    fetch("/api/auth/login", { method: "POST", headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ login: $("login-name").value, password: $("login-password").value }) })
      .then(function (r) { return r.json().then(function (d) { return { ok: r.ok, d: d }; }); })
      .then(function (res) {
        if (!res.ok) { $("login-error").textContent = res.d.error || "登录失败"; return; }
        var sameAgent = me && me.id === res.d.user.id;
        token = res.d.token; store.setItem("csbot.agent.token", token);
        store.setItem("csbot.agent.user", JSON.stringify(res.d.user));
        $("login-password").value = "";
        $("login").hidden = true;
        if (sameAgent) { connect(); return; }  // back after an expiry: same desk, same drafts
        me = res.d.user; start();
      })
      .catch(function () { $("login-error").textContent = "网络错误，请重试"; });
  });
  $("logout").addEventListener("click", function () {
    api("POST", "/api/auth/logout").catch(function () {}).then(function () {
      store.clear(); location.reload();
    });
  });

  // ---- the desk ----------------------------------------------------------------------------------------------
  function start() {
    $("desk").hidden = false;
    $("me-name").textContent = me.name || me.login;
    $("supervisor").hidden = me.roles.indexOf("supervisor") < 0 && me.roles.indexOf("admin") < 0;
    CANNED.forEach(function (t) { var o = document.createElement("option"); o.value = t; o.textContent = t; $("canned").appendChild(o); });
    var available = store.getItem("csbot.agent.available") === "1";
    $("available").checked = available;
    setAvailable(available, true);
    // a supervisor's /sessions lists the whole shop's: the chats column holds only their own
    api("GET", "/api/agent/sessions").then(function (d) { d.items.forEach(function (s) { if (s.agent_id === me.id) addChat(s); }); renderChats(); }).catch(fail);
    refreshQueue();
    connect();
    timers.push(setInterval(function () { if (token) api("POST", "/api/agent/heartbeat").catch(function () {}); }, 20000));
    timers.push(setInterval(refreshQueue, 10000));
    timers.push(setInterval(tickOffers, 1000));
    if (!$("supervisor").hidden) { refreshAgents(); timers.push(setInterval(refreshAgents, 10000)); }
  }

  function setAvailable(on, quiet) {
    $("available-label").textContent = on ? "在线" : "离线";
    store.setItem("csbot.agent.available", on ? "1" : "0");
    var go = on ? api("POST", "/api/agent/heartbeat") : Promise.resolve();
    go.then(function () { return api("POST", "/api/agent/availability", { available: on }); }).catch(fail);
    if (on && !quiet && window.Notification && Notification.permission === "default") Notification.requestPermission();
  }
  $("available").addEventListener("change", function () { setAvailable($("available").checked); });

  // ---- the feed ----------------------------------------------------------------------------------------------
  function connect() {
    if (!token) return;
    var proto = location.protocol === "https:" ? "wss://" : "ws://";
    ws = new WebSocket(proto + location.host + "/api/agent/ws?token=" + encodeURIComponent(token) + "&cursor=" + cursor);
    ws.onopen = function () { wsBackoff = 500; };
    ws.onmessage = function (m) {
      var item = JSON.parse(m.data);
      cursor = item.seq; store.setItem("csbot.agent.cursor", String(cursor));
      onItem(item);
    };
    ws.onclose = function (e) {
      ws = null;
      if (e.code === 4401) { expired(); return; }
      setTimeout(connect, wsBackoff); wsBackoff = Math.min(wsBackoff * 2, 8000);
    };
  }

  function onItem(item) {
    if (item.kind === "offer") { showOffer(item); return; }
    if (item.kind === "queue") { refreshQueue(); return; }
    if (item.kind === "message") {
      var chat = chats[item.session_id];
      if (!chat) return;
      if (chat.loaded) appendLine(chat, item.message);
      if (item.message.from === "customer") {
        chat.last = item.message.text;
        if (chat.quota) { chat.quota = { remaining: 5, window_ends: Date.now() / 1000 + 48 * 3600 }; showQuota(chat); }
        if (selected !== chat.id) { chat.unread++; beep(); } else { clearTimeout(assistTimer); assistTimer = setTimeout(function () { assist(chat.id); }, 300); }
        if (selected === chat.id && /\d{12,20}/.test(item.message.text || "")) loadOrders(chat.id);  // an order number: look it up
      }
      renderChats();
      return;
    }
    if (item.kind === "delivered") {  // a line that had not arrived was sent again (handoff.redelivery)
      var li = document.querySelector('#messages li[data-id="' + item.message_id + '"] .undelivered');
      if (li) li.remove();
      return;
    }
    if (item.kind === "session") {
      var s = item.session;
      Object.keys(offers).forEach(function (k) { if (offers[k].session.id === s.id && s.state !== "waiting") dropOffer(k); });
      if ((s.state === "active" || s.state === "warning") && s.agent_id === me.id) {
        addChat(s);
      } else if (chats[s.id]) {
        chats[s.id].view = s;
        if (s.state === "closed" || s.agent_id !== me.id) removeChat(s.id, s.state === "closed" ? "会话已结束" : "会话已转出");
      }
      renderChats(); refreshQueue();
      if (!$("supervisor").hidden) { clearTimeout(agentsTimer); agentsTimer = setTimeout(refreshAgents, 300); }
    }
  }
  var agentsTimer = null;

  // ---- offers ------------------------------------------------------------------------------------------------
  function showOffer(item) {
    var receivedAt = Date.now() / 1000, left = item.expires_at - item.at;
    offers[item.offer_id] = { session: item.session, deadline: receivedAt + left, el: null };
    var s = item.session, li = document.createElement("li");
    li.dataset.offer = item.offer_id;
    var cd = document.createElement("span"); cd.className = "countdown"; li.appendChild(cd);
    var who = document.createElement("b"); who.textContent = customerName(s.customer); li.appendChild(who);
    var why = document.createElement("div"); why.className = "small";
    why.textContent = (REASONS[s.reason] || s.reason) + (s.transfer_note ? " · 转接备注：" + s.transfer_note : "");
    li.appendChild(why);
    var row = document.createElement("div"); row.className = "buttons";
    var ok = document.createElement("button"); ok.className = "primary"; ok.textContent = "接入";
    ok.addEventListener("click", function () {
      api("POST", "/api/agent/offers/" + item.offer_id + "/accept").then(function (view) {
        dropOffer(item.offer_id); addChat(view); renderChats(); select(view.id);
      }).catch(function (e) { dropOffer(item.offer_id); fail(e); });
    });
    var no = document.createElement("button"); no.textContent = "拒绝";
    no.addEventListener("click", function () {
      api("POST", "/api/agent/offers/" + item.offer_id + "/decline").catch(fail).then(function () { dropOffer(item.offer_id); });
    });
    row.appendChild(ok); row.appendChild(no); li.appendChild(row);
    offers[item.offer_id].el = li; $("offers").appendChild(li);
    tickOffers(); beep();
    if (window.Notification && Notification.permission === "granted" && document.hidden) {
      new Notification("新的接入邀请", { body: (customerName(s.customer)) + " · " + (REASONS[s.reason] || s.reason) });
    }
  }
  function dropOffer(id) { var o = offers[id]; if (o && o.el) o.el.remove(); delete offers[id]; }
  function tickOffers() {
    var now = Date.now() / 1000;
    Object.keys(offers).forEach(function (id) {
      var left = Math.ceil(offers[id].deadline - now);
      if (left <= 0) { dropOffer(id); return; }
      offers[id].el.querySelector(".countdown").textContent = left + " 秒";
    });
  }
  var audio = null;
  function beep() {
    try {
      audio = audio || new (window.AudioContext || window.webkitAudioContext)();
      var o = audio.createOscillator(), g = audio.createGain();
      o.frequency.value = 880; g.gain.value = 0.08; o.connect(g); g.connect(audio.destination);
      o.start(); o.stop(audio.currentTime + 0.15);
    } catch (e) { /* no sound device: the badge and the list still show it */ }
  }

  // ---- chats -------------------------------------------------------------------------------------------------
  function addChat(view) {
    var c = chats[view.id];
    if (c) { c.view = view; return c; }
    chats[view.id] = { id: view.id, view: view, unread: 0, loaded: false, last: "", seen: {} };
    return chats[view.id];
  }
  function removeChat(id, why) {
    if (selected === id) { appendDivider(why); $("draft").disabled = true; $("send").disabled = true; }
    delete chats[id];
  }
  function renderChats() {
    var ul = $("chats"); ul.textContent = "";
    Object.keys(chats).forEach(function (id) {
      var c = chats[id], li = document.createElement("li");
      li.dataset.session = id;
      if (selected === id) li.className = "selected";
      var b = document.createElement("b"); b.textContent = customerName(c.view.customer); li.appendChild(b);
      var m = document.createElement("div"); m.className = "small";
      m.textContent = (STATES[c.view.state] || c.view.state) + (c.last ? " · " + c.last.slice(0, 20) : "");
      li.appendChild(m);
      if (c.unread) { var u = document.createElement("span"); u.className = "badge"; u.textContent = c.unread; li.appendChild(u); }
      li.addEventListener("click", function () { select(id); });
      ul.appendChild(li);
    });
  }

  function select(id) {
    saveDraft();
    selected = id;
    var c = chats[id];
    if (!c) return;
    c.unread = 0; renderChats();
    $("empty").hidden = true; $("conversation").hidden = false;
    $("draft").disabled = false; $("send").disabled = false;
    $("draft").value = keep.getItem("csbot.draft." + id) || "";
    $("chat-customer").textContent = customerName(c.view.customer);
    $("chat-meta").textContent = (REASONS[c.view.reason] || c.view.reason) + " · " + c.view.channel;
    $("messages").textContent = "";
    api("GET", "/api/agent/sessions/" + id).then(function (d) {
      if (selected !== id) return;
      c.loaded = true; c.seen = {};
      $("messages").textContent = "";
      var queuedAt = d.session.queued_at || 0;
      var before = d.conversation.filter(function (l) { return !l.at || l.at < queuedAt; });
      var last = before[before.length - 1], first = d.messages[0];
      if (last && first && last.from === "customer" && last.text === first.text) before.pop();  // the 转人工 itself
      before.forEach(function (l) {
        var image = l.file && /^image\//.test(l.file.content_type) ? l.file.url : null;
        appendLine(c, { from: l.from, text: l.text, agent: l.agent, image_url: image, file: image ? null : l.file }, true);
      });
      appendDivider("转人工" + (d.session.transfer_note ? " · 转接备注：" + d.session.transfer_note : ""));
      d.messages.forEach(function (m) { appendLine(c, m); });
      context(d);
      assist(id);
      loadOrders(id);
      c.quota = d.reply_quota; showQuota(c);
    }).catch(fail);
  }

  // WeChat rations agent lines (5 within 48 h of the customer's last message): the agent sees what is left
  function showQuota(c) {
    if (selected !== c.id) return;
    var base = (REASONS[c.view.reason] || c.view.reason) + " · " + c.view.channel;
    if (c.quota) {
      var ends = new Date(c.quota.window_ends * 1000);
      base += " · 微信还可发 " + c.quota.remaining + " 条（至 " + ends.getHours() + ":" + String(ends.getMinutes()).padStart(2, "0") + "，客户回复后重新计）";
    }
    $("chat-meta").textContent = base;
  }

  function appendLine(chat, m, before) {
    if (selected !== chat.id) return;
    if (m.id) { if (chat.seen[m.id]) return; chat.seen[m.id] = true; }
    var li = document.createElement("li");
    li.className = (m.from || "bot") + (before ? " before" : "");
    if (m.id) li.dataset.id = m.id;
    var who = document.createElement("span"); who.className = "who";
    who.textContent = m.from === "customer" ? "客户" : m.from === "agent" ? (m.agent && m.agent.name ? m.agent.name : "客服") : "机器人";
    li.appendChild(who);
    var b = document.createElement("div"); b.className = "bubble";
    if (m.text && !((m.image_url || m.file) && m.text.charAt(0) === "/")) b.appendChild(document.createTextNode(m.text));
    if (m.image_url && /^https?:\/\//.test(m.image_url)) { var img = document.createElement("img"); img.src = m.image_url; img.alt = "图片"; b.appendChild(img); }
    if (m.file && /^https?:\/\//.test(m.file.url)) {
      var a = document.createElement("a"); a.className = "file"; a.href = m.file.url; a.target = "_blank"; a.rel = "noopener noreferrer";
      a.textContent = "文件：" + (m.file.name || "未命名"); b.appendChild(a);
    }
    li.appendChild(b);
    if (m.undelivered) { var w = document.createElement("span"); w.className = "undelivered"; w.textContent = "未送达客户"; li.appendChild(w); }
    $("messages").appendChild(li); scrollDown();
  }
  function appendDivider(text) {
    var li = document.createElement("li"); li.className = "divider"; li.textContent = "—— " + text + " ——";
    $("messages").appendChild(li); scrollDown();
  }
  function scrollDown() { var m = $("messages"); m.scrollTop = m.scrollHeight; }

  // the context panel: who, what the bot part was about (summarised by the server), earlier sessions
  function context(d) {
    var c = d.session.customer;
    $("ctx-customer").textContent = customerName(c) + "\n" + d.session.channel + (c.tags.length ? "\n标签：" + c.tags.join("、") : "");
    $("ctx-summary").textContent = d.summary || "（没有机器人对话）";
    $("ctx-summary-source").textContent = "";
    var past = $("ctx-past"); past.textContent = "";
    d.past_sessions.forEach(function (p) {
      var li = document.createElement("li");
      li.textContent = (STATES[p.state] || p.state) + " · " + (p.summary || REASONS[p.reason] || p.reason) + (p.csat ? " · " + p.csat + "分" : "");
      past.appendChild(li);
    });
    if (!d.past_sessions.length) past.textContent = "（第一次来）";
  }

  // agent assist: the knowledge base's answers to the customer's latest message, one click to put in the draft
  var assistTimer = null;
  function assist(id) {
    if (id !== selected) return;
    api("GET", "/api/agent/sessions/" + id + "/assist").then(function (a) {
      if (selected !== id) return;
      $("assist-query").textContent = a.error ? a.error : a.query ? "客户：" + a.query : "";
      if (a.summary && a.summary.text) {
        $("ctx-summary").textContent = a.summary.text;
        $("ctx-summary-source").textContent = a.summary.source === "llm" ? "（大模型总结）" : "";
      }
      var ol = $("assist"); ol.textContent = "";
      a.answers.forEach(function (x, i) {
        var li = document.createElement("li");
        var t = document.createElement("b"); t.textContent = x.title; li.appendChild(t);
        var src = document.createElement("span"); src.className = "small";
        src.textContent = " · " + (x.kind === "faq" ? "FAQ " : "文档 ") + x.id + (i === 0 && a.sure ? " · 机器人有把握" : "");
        li.appendChild(src);
        var body = document.createElement("p"); body.textContent = x.text; li.appendChild(body);
        var use = document.createElement("button"); use.type = "button"; use.textContent = "插入";
        use.addEventListener("click", function () {
          var draft = $("draft");
          draft.value = draft.value ? draft.value + "\n" + x.text : x.text;
          saveDraft(); draft.focus();
        });
        li.appendChild(use);
        ol.appendChild(li);
      });
      if (!a.answers.length && !a.error) $("assist-query").textContent += a.query ? "（知识库里没有找到）" : "";
    }).catch(fail);
  }
  // the customer's orders through the shop's order API: the ones named in the chat first, then the latest
  function loadOrders(id) {
    api("GET", "/api/agent/sessions/" + id + "/orders").then(function (d) {
      if (selected !== id) return;
      var ul = $("ctx-orders"); ul.textContent = "";
      if (d.error) { ul.textContent = d.error; return; }
      if (!d.items.length) { ul.textContent = "（没有查到订单）"; return; }
      d.items.forEach(function (o) {
        var li = document.createElement("li"); li.dataset.order = o.order_id;
        var b = document.createElement("b"); b.textContent = o.order_id; li.appendChild(b);
        var lines = [o.status_text + " · ¥" + o.total + " · " + o.created_at, o.goods.join("、")];
        if (o.courier || o.tracking_no) lines.push((o.courier || "") + " " + (o.tracking_no || ""));
        if (o.last_tracking) lines.push(o.last_tracking);
        var p = document.createElement("div"); p.className = "small"; p.textContent = (o.mentioned ? "客户提到 · " : "") + lines.join("\n");
        li.appendChild(p);
        ul.appendChild(li);
      });
    }).catch(fail);
  }
  $("assist-refresh").addEventListener("click", function () { if (selected) assist(selected); });

  // ---- writing -----------------------------------------------------------------------------------------------
  function saveDraft() { if (selected) keep.setItem("csbot.draft." + selected, $("draft").value); }
  $("draft").addEventListener("input", saveDraft);
  $("draft").addEventListener("keydown", function (e) {
    if (e.key === "Enter" && !e.shiftKey && !e.isComposing) { e.preventDefault(); $("composer").requestSubmit(); }
  });
  $("canned").addEventListener("change", function () {
    if (!this.value) return;
    $("draft").value = $("draft").value ? $("draft").value + this.value : this.value;
    this.value = ""; saveDraft(); $("draft").focus();
  });
  $("composer").addEventListener("submit", function (e) {
    e.preventDefault();
    var id = selected, text = $("draft").value.trim();
    if (!id || !text || !token) return;
    api("POST", "/api/agent/sessions/" + id + "/messages", { text: text }).then(function (msg) {
      keep.removeItem("csbot.draft." + id);
      if (selected === id) { $("draft").value = ""; appendLine(chats[id], msg.message); }
      if (msg.warning) toast(msg.warning);
      var c = chats[id];
      if (c && c.quota && !msg.message.undelivered && !msg.message.merged) { c.quota.remaining = Math.max(0, c.quota.remaining - 1); showQuota(c); }
    }).catch(fail);  // on failure (or an expired login) the draft stays where it was
  });

  // a photo or PDF for the customer: uploaded first (checked, cleaned, stored), then sent as its signed link
  $("attach").addEventListener("click", function () { $("file").click(); });
  $("file").addEventListener("change", function () {
    var f = this.files && this.files[0], id = selected;
    if (!f || !id) return;
    $("attach").disabled = true;
    fetch("/api/agent/files?name=" + encodeURIComponent(f.name || ""), {
      method: "POST", body: f, headers: { Authorization: "Bearer " + token, "Content-Type": f.type || "application/octet-stream" }
    }).then(function (r) {
      if (r.status === 401) { expired(); throw new Error("unauthorised"); }
      return r.json().then(function (d) { if (!r.ok) throw new Error(d.error || "上传失败"); return d; });
    }).then(function (d) {
      return api("POST", "/api/agent/sessions/" + id + "/messages", { file: { url: d.url, name: d.name } });
    }).then(function (msg) { if (selected === id) appendLine(chats[id], msg.message); })
      .catch(fail)
      .then(function () { $("attach").disabled = false; $("file").value = ""; });
  });

  // ---- transfer and close (an agent: the open chat; a supervisor: any chat, from the 服务中 list) -------------
  var target = null, assigning = false;
  function openTransfer(id, assign) {
    target = id; assigning = !!assign;
    api("GET", "/api/agent/colleagues").then(function (d) {
      var sel = $("transfer-to"); sel.textContent = "";
      if (!assigning) { var anyone = document.createElement("option"); anyone.value = ""; anyone.textContent = "任意在线同事（排队）"; sel.appendChild(anyone); }
      d.items.sort(function (a, b) { return (a.status === "online" ? 0 : 1) - (b.status === "online" ? 0 : 1); });
      d.items.forEach(function (a) {
        var o = document.createElement("option"); o.value = a.id;
        o.textContent = a.name + "（" + (a.status === "online" ? "在线" : a.status === "busy" ? "忙碌" : "离线") + " · " + a.load + "/" + a.capacity + "）";
        sel.appendChild(o);
      });
      $("transfer-title").textContent = assigning ? "指派给坐席" : "转接会话";
      $("transfer-ok").textContent = assigning ? "指派" : "转接";
      $("transfer-note").value = ""; $("transfer-note").disabled = assigning;
      $("transfer-dialog").showModal();
    }).catch(fail);
  }
  function openClose(id, forced) {
    target = id;
    $("close-title").textContent = forced ? "强制结束会话" : "结束会话";
    $("close-summary").value = forced ? "主管结束：" : "";
    $("close-dialog").showModal();
  }
  function done(id, why) { if (chats[id]) removeChat(id, why); renderChats(); refreshQueue(); if (!$("supervisor").hidden) refreshAgents(); }
  $("transfer").addEventListener("click", function () { openTransfer(selected); });
  $("transfer-cancel").addEventListener("click", function () { $("transfer-dialog").close(); });
  $("transfer-form").addEventListener("submit", function () {
    var id = target, to = $("transfer-to").value;
    if (assigning) {
      api("POST", "/api/agent/sessions/" + id + "/take", { agent_id: to }).then(function () { done(id, "已指派"); }).catch(fail);
      return;
    }
    var body = { note: $("transfer-note").value };
    if (to) body.agent_id = to;
    api("POST", "/api/agent/sessions/" + id + "/transfer", body).then(function () { done(id, "已转接"); }).catch(fail);
  });
  $("close-chat").addEventListener("click", function () { openClose(selected, false); });
  $("close-cancel").addEventListener("click", function () { $("close-dialog").close(); });
  $("close-form").addEventListener("submit", function () {
    var id = target;
    api("POST", "/api/agent/sessions/" + id + "/close", { summary: $("close-summary").value }).then(function () {
      keep.removeItem("csbot.draft." + id); done(id, "会话已结束");
    }).catch(fail);
  });

  // ---- the queue and (supervisors) the agents ----------------------------------------------------------------
  function refreshQueue() {
    if (!token) return;
    api("GET", "/api/agent/queue").then(function (d) {
      var ul = $("queue"); ul.textContent = "";
      $("queue-count").textContent = d.items.length ? "(" + d.items.length + ")" : "";
      d.items.forEach(function (s) {
        var li = document.createElement("li");
        var b = document.createElement("b"); b.textContent = "#" + s.position + " " + (customerName(s.customer)); li.appendChild(b);
        var m = document.createElement("div"); m.className = "small";
        m.textContent = (REASONS[s.reason] || s.reason) + " · 等待 " + Math.round(s.waited_seconds / 60) + " 分钟";
        if (s.priority > 1) { var p = document.createElement("span"); p.className = "prio"; p.textContent = " 优先级 " + s.priority; m.appendChild(p); }
        li.appendChild(m);
        s.customer.tags.forEach(function (t) { var tg = document.createElement("span"); tg.className = "tag"; tg.textContent = t; li.appendChild(tg); });
        var take = document.createElement("button"); take.textContent = "接入";
        take.addEventListener("click", function () {
          api("POST", "/api/agent/sessions/" + s.id + "/take").then(function (view) { addChat(view); renderChats(); select(view.id); refreshQueue(); }).catch(fail);
        });
        li.appendChild(take);
        if (!$("supervisor").hidden) {
          var give = document.createElement("button"); give.textContent = "指派";
          give.addEventListener("click", function () { openTransfer(s.id, true); });
          li.appendChild(give);
        }
        ul.appendChild(li);
      });
    }).catch(fail);
  }
  function refreshAgents() {
    api("GET", "/api/agent/overview").then(function (d) {
      var t = d.today, mins = function (x) { return x === null ? "—" : x < 60 ? Math.round(x) + " 秒" : (x / 60).toFixed(1) + " 分钟"; };
      $("today").textContent = "转人工 " + t.requests + " · 已接待 " + t.served + " · 放弃 " + t.abandoned + " · 排队 " + t.waiting +
        "\n平均等待 " + mins(t.avg_wait_seconds) + " · 平均首响 " + mins(t.avg_first_response_seconds) +
        " · 满意度 " + (t.csat_avg === null ? "—" : t.csat_avg + "（" + t.csat_count + " 人评价）");
      var ul = $("agents"); ul.textContent = "";
      d.agents.forEach(function (a) {
        var li = document.createElement("li");
        li.textContent = a.name + " · " + (a.status === "online" ? "在线" : a.status === "busy" ? "忙碌" : "离线") + " · " + a.load + "/" + a.capacity;
        ul.appendChild(li);
      });
      var served = $("served"); served.textContent = "";
      $("served-count").textContent = d.sessions.length ? "(" + d.sessions.length + ")" : "";
      d.sessions.forEach(function (s) {
        var li = document.createElement("li"); li.dataset.session = s.id;
        var b = document.createElement("b"); b.textContent = customerName(s.customer); li.appendChild(b);
        var m = document.createElement("div"); m.className = "small";
        m.textContent = (s.agent_name || "?") + " · " + (STATES[s.state] || s.state) + " · " + (REASONS[s.reason] || s.reason);
        li.appendChild(m);
        var move = document.createElement("button"); move.textContent = "改派";
        move.addEventListener("click", function () { openTransfer(s.id); });
        var end = document.createElement("button"); end.textContent = "强制结束";
        end.addEventListener("click", function () { openClose(s.id, true); });
        li.appendChild(move); li.appendChild(end);
        served.appendChild(li);
      });
    }).catch(fail);
  }

  // ---- boot --------------------------------------------------------------------------------------------------
  window.csbotInbox = { chats: chats, offers: offers };  // for the browser tests
  if (token) {
    me = JSON.parse(store.getItem("csbot.agent.user") || "null");
    if (me) { start(); } else { showLogin(); }
  } else {
    showLogin();
  }
})();
