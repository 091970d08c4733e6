/* 消息搜索: searches the archive (GET /api/agent/messages/search) and opens a result's conversation
   (GET /api/agent/conversations/{id}/archive). Uses the token the inbox keeps in this tab; every text from
   the server is set with textContent, never as HTML. */
(function () {
  "use strict";
  var token = window.sessionStorage.getItem("csbot.agent.token");
  var $ = function (id) { return document.getElementById(id); };
  var ROLE = { customer: "客户", agent: "客服", bot: "机器人" };
  var offset = 0, lastParams = null;

  if (!token) { $("need-login").hidden = false; return; }
  $("search-desk").hidden = false;

  function api(path) {
    return fetch(path, { headers: { Authorization: "Bearer " + token } }).then(function (r) {
      if (r.status === 401) { window.sessionStorage.removeItem("csbot.agent.token"); location.href = "/inbox"; }
      return r.json().then(function (d) { return { ok: r.ok, status: r.status, d: d }; });
    });
  }

  function when(at) {
    return new Date(at * 1000).toLocaleString("zh-CN", { hour12: false });
  }

  function el(tag, cls, text) {
    var e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text !== undefined) e.textContent = text;
    return e;
  }

  function snippet(hit) {
    var box = el("div", "snippet"), at = 0, s = hit.snippet;
    (hit.highlights || []).forEach(function (m) {
      if (m[0] > at) box.appendChild(document.createTextNode(s.slice(at, m[0])));
      box.appendChild(el("mark", "", s.slice(m[0], m[1])));
      at = m[1];
    });
    if (at < s.length) box.appendChild(document.createTextNode(s.slice(at)));
    return box;
  }

  function params() {
    var p = new URLSearchParams();
    ["q", "customer", "agent", "role", "from", "to"].forEach(function (k) {
      var v = $(k).value.trim();
      if (v) p.set(k, v);
    });
    return p;
  }

  function search(more) {
    if (!more) { offset = 0; lastParams = params(); $("hits").textContent = ""; }
    var p = new URLSearchParams(lastParams);
    p.set("limit", "20"); p.set("offset", String(offset));
    $("summary").textContent = "搜索中…";
    api("/api/agent/messages/search?" + p.toString()).then(function (res) {
      if (!res.ok) { $("summary").textContent = res.d.error || "搜索失败"; return; }
      res.d.hits.forEach(function (h) { $("hits").appendChild(hitItem(h)); });
      offset += res.d.hits.length;
      $("summary").textContent = "共 " + res.d.total + " 条" + (res.d.total ? "" : "：没有找到相关消息");
      $("more").hidden = offset >= res.d.total;
    }).catch(function () { $("summary").textContent = "网络错误，请重试"; });
  }

  function hitItem(h) {
    var li = el("li");
    li.dataset.msg = h.msg_id;
    li.appendChild(el("div", "meta", when(h.at) + " · " + (ROLE[h.role] || h.role) +
      (h.customer ? " · 客户 " + h.customer : "") + " · 会话 " + h.conversation_id));
    li.appendChild(snippet(h));
    li.addEventListener("click", function () {
      Array.prototype.forEach.call($("hits").children, function (x) { x.classList.remove("selected"); });
      li.classList.add("selected");
      open(h.conversation_id, h.msg_id);
    });
    return li;
  }

  function open(conversation, msgId) {
    $("archive-title").textContent = "会话 " + conversation + " 加载中…";
    $("archive-lines").textContent = "";
    api("/api/agent/conversations/" + encodeURIComponent(conversation) + "/archive").then(function (res) {
      if (!res.ok) { $("archive-title").textContent = res.d.error || "无法打开会话"; return; }
      $("archive-title").textContent = "会话 " + conversation + " · " + res.d.lines.length + " 条消息";
      var found = null;
      res.d.lines.forEach(function (m) {
        var li = el("li", m.role + (m.msg_id === msgId ? " found" : ""));
        li.appendChild(el("span", "who", (ROLE[m.role] || m.role) + " · " + when(m.at)));
        var text = m.text || (m.image ? "[图片]" : m.file ? "[文件]" : m.error || "");
        li.appendChild(el("div", "bubble", text));
        $("archive-lines").appendChild(li);
        if (m.msg_id === msgId) found = li;
      });
      if (found) found.scrollIntoView({ block: "center" });
    });
  }

  $("search-form").addEventListener("submit", function (e) { e.preventDefault(); search(false); });
  $("more").addEventListener("click", function () { search(true); });
  var start = new URLSearchParams(location.search);
  ["q", "customer"].forEach(function (k) { if (start.get(k)) $(k).value = start.get(k); });
  if (start.get("q") || start.get("customer")) search(false);
})();
