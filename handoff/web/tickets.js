/* 工单: lists the tenant's tickets (GET /api/agent/tickets) with status, priority and the SLA time left, opens
   one with its comments and transcript, moves it (POST …/status) and adds notes (POST …/comments). Uses the
   token the inbox keeps in this tab; every text from the server is set with textContent, never as HTML. */
(function () {
  "use strict";
  var token = window.sessionStorage.getItem("csbot.agent.token");
  var $ = function (id) { return document.getElementById(id); };
  var CATEGORY = { refund: "退款/退货", logistics: "物流", complaint: "投诉", tech: "技术问题" };
  var PRIORITY = { 1: "紧急", 2: "高", 3: "中", 4: "低" };
  // the moves the status machine allows (handoff/tickets/states.py), as buttons
  var MOVES = {
    "new": [["in_progress", "开始处理"], ["waiting_customer", "待客户"], ["resolved", "已解决"], ["closed", "关闭"]],
    in_progress: [["waiting_customer", "待客户"], ["resolved", "已解决"], ["closed", "关闭"]],
    waiting_customer: [["in_progress", "继续处理"], ["resolved", "已解决"], ["closed", "关闭"]],
    resolved: [["in_progress", "重新打开"], ["closed", "关闭"]],
    closed: []
  };
  var SOURCE = { agent: "客服创建", left_message: "客户留言", queue_timeout: "排队超时", complaint: "投诉未处理",
    undelivered: "消息未送达", bot_failure: "机器人多次未解答" };
  var ROLE = { agent: "客服", supervisor: "主管", customer: "客户", system: "系统" };
  var items = [], openId = null, clockSkew = 0;

  if (!token) { $("need-login").hidden = false; return; }
  $("tickets-desk").hidden = false;

  function api(method, path, body) {
    var opts = { method: method, headers: { Authorization: "Bearer " + token } };
    if (body !== undefined) { opts.headers["Content-Type"] = "application/json"; opts.body = JSON.stringify(body); }
    return fetch(path, opts).then(function (r) {
      if (r.status === 401) { window.sessionStorage.removeItem("csbot.agent.token"); location.href = "/inbox"; }
      return r.json().then(function (d) {
        if (!r.ok) throw new Error((d && d.error) || ("HTTP " + r.status));
        return d;
      });
    });
  }
  function el(tag, cls, text) {
    var e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text !== undefined) e.textContent = text;
    return e;
  }
  function when(at) { return at ? new Date(at * 1000).toLocaleString("zh-CN", { hour12: false }) : "-"; }
  function now() { return Date.now() / 1000 + clockSkew; }

  // SLA time left, counted down on the page between loads
  function slaText(t) {
    if (t.status === "waiting_customer") return ["已暂停（待客户）", "paused"];
    if (t.status !== "new" && t.status !== "in_progress" || !t.expired_at) return ["-", ""];
    var left = Math.round(t.expired_at - now()), m = Math.floor(Math.abs(left) / 60), s = Math.abs(left) % 60;
    var text = (m >= 60 ? Math.floor(m / 60) + " 小时 " + (m % 60) + " 分 " : m + " 分 ") + s + " 秒";
    return left < 0 ? ["已超时 " + text, "late"] : [text, ""];
  }

  function load() {
    var p = new URLSearchParams();
    if ($("f-status").value) p.set("status", $("f-status").value);
    if ($("f-assignee").value) p.set("assignee", $("f-assignee").value);
    if ($("f-category").value) p.set("category", $("f-category").value);
    if ($("f-breached").checked) p.set("breached", "true");
    if ($("f-q").value.trim()) p.set("q", $("f-q").value.trim());
    return api("GET", "/api/agent/tickets?" + p.toString()).then(function (d) {
      clockSkew = d.now - Date.now() / 1000;
      items = d.items;
      render();
    }).catch(function (e) { $("t-summary").textContent = "加载失败：" + e.message; });
  }

  function render() {
    var body = $("t-rows");
    body.textContent = "";
    $("t-summary").textContent = "共 " + items.length + " 个工单";
    items.forEach(function (t) {
      var tr = el("tr");
      tr.dataset.id = t.id;
      if (t.id === openId) tr.className = "open";
      tr.appendChild(el("td", "number", t.number));
      tr.appendChild(el("td", "status", t.status_label));
      tr.appendChild(el("td", "p" + t.priority, PRIORITY[t.priority] + (t.escalation_level ? " ↑" : "")));
      tr.appendChild(el("td", "", CATEGORY[t.category] || "未分类"));
      tr.appendChild(el("td", "", t.title));
      var sla = slaText(t);
      tr.appendChild(el("td", "sla " + sla[1], sla[0]));
      tr.addEventListener("click", function () { open(t.id); });
      body.appendChild(tr);
    });
  }

  function open(id) {
    openId = id;
    $("d-error").textContent = "";
    return api("GET", "/api/agent/tickets/" + id).then(function (t) {
      $("t-detail").hidden = false;
      $("d-number").textContent = t.number;
      $("d-status").textContent = t.status_label;
      $("d-meta").textContent = [PRIORITY[t.priority] + "优先级", CATEGORY[t.category] || "未分类",
        "来源：" + (SOURCE[t.source] || t.source), "客户：" + (t.customer_ref || t.conversation_id || "-"),
        "创建：" + when(t.created_at), "时限：" + when(t.expired_at)].join(" · ");
      $("d-title").textContent = t.title;
      $("d-description").textContent = t.description;
      $("d-transcript").dataset.url = t.transcript_url;
      $("d-transcript-lines").hidden = true;
      var actions = $("d-actions");
      actions.textContent = "";
      (MOVES[t.status] || []).forEach(function (m) {
        var b = el("button", "move", m[1]);
        b.type = "button";
        b.dataset.status = m[0];
        b.addEventListener("click", function () { move(t.id, m[0]); });
        actions.appendChild(b);
      });
      var list = $("d-comments");
      list.textContent = "";
      t.comments.forEach(function (c) {
        list.appendChild(el("li", "", when(c.created_at) + " [" + (ROLE[c.author_role] || c.author_role) + "] " + c.text));
      });
      render();
    }).catch(function (e) { $("d-error").textContent = e.message; });
  }

  function move(id, status) {
    var reply = $("d-reply").value.trim();
    api("POST", "/api/agent/tickets/" + id + "/status", { status: status, reply: reply })
      .then(function () { $("d-reply").value = ""; return load(); })
      .then(function () { return open(id); })
      .catch(function (e) { $("d-error").textContent = e.message; });
  }

  $("d-transcript").addEventListener("click", function (e) {
    e.preventDefault();
    api("GET", this.dataset.url).then(function (d) {
      var ol = $("d-transcript-lines"), who = { customer: "客户", agent: "客服", bot: "机器人" };
      ol.textContent = "";
      d.conversation.concat(d.handoff).forEach(function (m) {
        ol.appendChild(el("li", "", (who[m.from] || m.from) + "：" + (m.text || (m.image_url ? "[图片]" : "[文件]"))));
      });
      if (!ol.children.length) ol.appendChild(el("li", "small", "没有对话记录"));
      ol.hidden = false;
    }).catch(function (err) { $("d-error").textContent = err.message; });
  });
  $("d-comment-form").addEventListener("submit", function (e) {
    e.preventDefault();
    var text = $("d-comment").value.trim();
    if (!text || !openId) return;
    api("POST", "/api/agent/tickets/" + openId + "/comments", { text: text })
      .then(function () { $("d-comment").value = ""; return open(openId); })
      .catch(function (err) { $("d-error").textContent = err.message; });
  });
  $("filter").addEventListener("submit", function (e) { e.preventDefault(); load(); });
  load();
  setInterval(render, 1000);  // the countdown
  setInterval(load, 15000);   // new tickets, other agents' moves
})();
