// The supervisors' report page: a period's totals, two charts (inline SVG) and the table, from
// GET /api/agent/reports; the CSV comes from /api/agent/reports.csv with the same token (a blob download).
// Uses the token the inbox keeps in this tab, or logs in itself. Names are put on the page as text only.
(function () {
  "use strict";
  var $ = function (id) { return document.getElementById(id); };
  var store = window.sessionStorage;
  var token = store.getItem("csbot.agent.token");
  var me = JSON.parse(store.getItem("csbot.agent.user") || "null");
  var SVG = "http://www.w3.org/2000/svg";
  var FIRST = { day: "日期", agent: "客服", category: "类别" };
  // [field, header, kind]: kind n = count, p = rate, s = seconds, c = CSAT
  var COLUMNS = [
    ["conversations", "会话数", "n"], ["self_service_rate", "机器人自助率", "p"], ["handoff_rate", "转人工率", "p"],
    ["sessions", "人工会话", "n"], ["abandoned", "排队放弃", "n"],
    ["wait_avg", "平均排队", "s"], ["wait_p90", "排队 P90", "s"],
    ["first_response_avg", "平均首响", "s"], ["first_response_p90", "首响 P90", "s"],
    ["handle_avg", "平均处理时长", "s"], ["handle_p90", "处理时长 P90", "s"],
    ["tickets_due", "到期工单", "n"], ["sla_compliance", "SLA 达成率", "p"],
    ["csat_avg", "满意度", "c"], ["csat_count", "评价数", "n"]
  ];
  var CARDS = [
    ["conversations", "会话数"], ["self_service_rate", "机器人自助率"], ["handoff_rate", "转人工率"],
    ["sessions", "人工会话"], ["wait_avg", "平均排队"], ["wait_p90", "排队 P90"], ["first_response_avg", "平均首响"],
    ["handle_avg", "平均处理时长"], ["sla_compliance", "SLA 达成率"], ["csat_avg", "满意度"]
  ];
  var KIND = {};
  COLUMNS.forEach(function (c) { KIND[c[0]] = c[2]; });
  var last = null;

  function show(field, v) {
    if (v === null || v === undefined) return "—";
    var kind = KIND[field] || "n";
    if (kind === "p") return (v * 100).toFixed(1) + "%";
    if (kind === "s") return v < 60 ? Math.round(v) + " 秒" : (v / 60).toFixed(1) + " 分钟";
    if (kind === "c") return v.toFixed(1);
    return String(v);
  }
  function status(text, bad) { $("status").textContent = text || ""; $("status").classList.toggle("bad", !!bad); }

  // ---- log in --------------------------------------------------------------------------------------------
  function showLogin() { $("login").hidden = false; $("board").hidden = true; $("login-name").focus(); }
  $("login-form").addEventListener("submit", function (e) {
    e.preventDefault();
    $("login-error").textContent = "";
    fetch("/api/auth/login", { method: "POST", headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ login: $("login-name").value, password: $("login-password").value }) })
      .then(function (r) { return r.json().then(function (d) { return { ok: r.ok, d: d }; }); })
      .then(function (res) {
        if (!res.ok) { $("login-error").textContent = res.d.error || "登录失败"; return; }
        token = res.d.token; me = res.d.user;
        store.setItem("csbot.agent.token", token); store.setItem("csbot.agent.user", JSON.stringify(me));
        $("login-password").value = "";
        start();
      })
      .catch(function () { $("login-error").textContent = "网络错误，请重试"; });
  });

  // ---- the period ----------------------------------------------------------------------------------------
  function iso(d) {
    var m = d.getMonth() + 1, day = d.getDate();
    return d.getFullYear() + "-" + (m < 10 ? "0" : "") + m + "-" + (day < 10 ? "0" : "") + day;
  }
  function query() {
    var q = "from=" + encodeURIComponent($("from").value) + "&to=" + encodeURIComponent($("to").value) +
      "&by=" + encodeURIComponent($("by").value);
    if (!$("tenant-box").hidden && $("tenant").value.trim()) q += "&tenant=" + encodeURIComponent($("tenant").value.trim());
    return q;
  }
  function call(path) {
    return fetch(path, { headers: { Authorization: "Bearer " + token } }).then(function (r) {
      if (r.status === 401) { token = null; store.removeItem("csbot.agent.token"); showLogin(); throw new Error("登录已过期，请重新登录"); }
      if (!r.ok) return r.json().then(function (d) { throw new Error(d.error || ("HTTP " + r.status)); });
      return r;
    });
  }
  function run() {
    status("查询中…");
    var q = query();
    history.replaceState(null, "", "/reports?" + q);
    return call("/api/agent/reports?" + q).then(function (r) { return r.json(); }).then(function (data) {
      last = data;
      render(data);
      status(data.tenant + " · " + data.from + " 至 " + data.to + "（" + data.timezone + "）");
    }).catch(function (e) { status(e.message, true); });
  }
  $("filters").addEventListener("submit", function (e) { e.preventDefault(); run(); });
  $("export").addEventListener("click", function () {
    status("正在导出…");
    call("/api/agent/reports.csv?" + query()).then(function (r) {
      var m = /filename="([^"]+)"/.exec(r.headers.get("Content-Disposition") || "");
      return r.blob().then(function (b) { return { blob: b, name: m ? m[1] : "report.csv" }; });
    }).then(function (f) {
      var a = document.createElement("a");
      a.href = URL.createObjectURL(f.blob); a.download = f.name;
      document.body.appendChild(a); a.click(); a.remove();
      setTimeout(function () { URL.revokeObjectURL(a.href); }, 10000);
      status("已导出 " + f.name);
    }).catch(function (e) { status(e.message, true); });
  });

  // ---- drawing -------------------------------------------------------------------------------------------
  function render(data) {
    var cards = $("cards"); cards.textContent = "";
    CARDS.forEach(function (c) {
      var div = document.createElement("div"); div.className = "card"; div.dataset.field = c[0];
      var v = document.createElement("b"); v.textContent = show(c[0], data.total[c[0]]);
      var l = document.createElement("span"); l.textContent = c[1];
      div.appendChild(v); div.appendChild(l); cards.appendChild(div);
    });
    var head = $("head"); head.textContent = "";
    [FIRST[data.by]].concat(COLUMNS.map(function (c) { return c[1]; })).forEach(function (h) {
      var th = document.createElement("th"); th.textContent = h; head.appendChild(th);
    });
    var body = $("rows"); body.textContent = "";
    data.rows.forEach(function (r) { body.appendChild(line(r.label, r, r.key)); });
    var foot = $("total"); foot.textContent = "";
    foot.appendChild(line("合计", data.total, "total"));
    var labels = data.rows.map(function (r) { return r.label; });
    if (data.by === "day") {
      bars("volume", labels, [
        { name: "机器人自助", color: "#10b981", values: data.rows.map(function (r) { return r.self_served || 0; }) },
        { name: "转人工", color: "#f59e0b", values: data.rows.map(function (r) { return r.handed_off || 0; }) },
        { name: "其他", color: "#cbd5e1", values: data.rows.map(function (r) { return (r.conversations || 0) - (r.self_served || 0) - (r.handed_off || 0); }) }
      ], true);
      $("volume-title").textContent = "会话量（按日）";
    } else {
      bars("volume", labels, [
        { name: "人工会话", color: "#2563eb", values: data.rows.map(function (r) { return r.sessions; }) },
        { name: "到期工单", color: "#a855f7", values: data.rows.map(function (r) { return r.tickets_due; }) }
      ], false);
      $("volume-title").textContent = data.by === "agent" ? "人工会话与工单（按客服）" : "人工会话与工单（按类别）";
    }
    var mins = function (f) { return data.rows.map(function (r) { return r[f] === null ? 0 : r[f] / 60; }); };
    bars("times", labels, [
      { name: "平均排队", color: "#f97316", values: mins("wait_avg") },
      { name: "平均首响", color: "#0ea5e9", values: mins("first_response_avg") },
      { name: "平均处理", color: "#6366f1", values: mins("handle_avg") }
    ], false);
  }
  function line(label, m, key) {
    var tr = document.createElement("tr"); tr.dataset.key = key;
    var th = document.createElement("th"); th.textContent = label; tr.appendChild(th);
    COLUMNS.forEach(function (c) {
      var td = document.createElement("td"); td.dataset.field = c[0]; td.textContent = show(c[0], m[c[0]]); tr.appendChild(td);
    });
    return tr;
  }
  function el(name, attrs, text) {
    var e = document.createElementNS(SVG, name);
    Object.keys(attrs).forEach(function (k) { e.setAttribute(k, attrs[k]); });
    if (text !== undefined) e.textContent = text;
    return e;
  }
  // bars: one group per label, series side by side (or stacked); a y axis with 4 ticks
  function bars(id, labels, series, stacked) {
    var svg = $(id); svg.textContent = "";
    var W = 560, H = 240, L = 44, B = 38, T = 10, R = 8;
    svg.setAttribute("viewBox", "0 0 " + W + " " + H);
    var n = Math.max(labels.length, 1), group = (W - L - R) / n;
    var top = 0;
    labels.forEach(function (_, i) {
      var sum = 0;
      series.forEach(function (s) { top = Math.max(top, s.values[i]); sum += s.values[i]; });
      if (stacked) top = Math.max(top, sum);
    });
    top = top > 0 ? niceTop(top) : 1;
    var y = function (v) { return H - B - (v / top) * (H - B - T); };
    for (var k = 0; k <= 4; k++) {
      var v = top * k / 4;
      svg.appendChild(el("line", { x1: L, x2: W - R, y1: y(v), y2: y(v), stroke: "#e5e7eb" }));
      svg.appendChild(el("text", { x: L - 4, y: y(v) + 4, "text-anchor": "end", "class": "tick" }, fmt(v)));
    }
    var every = Math.ceil(n / 14);  // at most ~14 labels under the axis
    labels.forEach(function (label, i) {
      var x0 = L + i * group, inner = group * 0.8, pad = group * 0.1, base = 0;
      series.forEach(function (s, j) {
        var v = s.values[i] || 0, w = stacked ? inner : inner / series.length;
        var x = stacked ? x0 + pad : x0 + pad + j * w;
        var y1 = y(base + v), h = Math.max(0, y(base) - y1);
        var rect = el("rect", { x: x, y: y1, width: Math.max(1, w - 1), height: h, fill: s.color, "data-series": s.name, "data-label": label, "data-value": v });
        rect.appendChild(el("title", {}, label + " " + s.name + "：" + fmt(v)));
        svg.appendChild(rect);
        if (stacked) base += v;
      });
      if (i % every === 0) {
        var text = label.length > 10 && /^\d{4}-/.test(label) ? label.slice(5) : label;
        svg.appendChild(el("text", { x: x0 + group / 2, y: H - B + 16, "text-anchor": "middle", "class": "tick" }, text));
      }
    });
    var legend = $(id + "-legend"); legend.textContent = "";
    series.forEach(function (s) {
      var span = document.createElement("span"); var dot = document.createElement("i");
      dot.className = "dot"; dot.dataset.color = s.color; dot.style.background = s.color;  // CSSOM: allowed by the CSP
      span.appendChild(dot); span.appendChild(document.createTextNode(s.name)); legend.appendChild(span);
    });
  }
  function niceTop(v) {
    var p = Math.pow(10, Math.floor(Math.log10(v))), f = v / p;
    return (f <= 1 ? 1 : f <= 2 ? 2 : f <= 5 ? 5 : 10) * p;
  }
  function fmt(v) { return Math.abs(v - Math.round(v)) < 1e-9 ? String(Math.round(v)) : v.toFixed(1); }

  // ---- boot ----------------------------------------------------------------------------------------------
  function start() {
    $("login").hidden = true; $("board").hidden = false;
    var admin = me && me.roles && me.roles.indexOf("admin") >= 0;
    $("tenant-box").hidden = !admin;
    var params = new URLSearchParams(location.search), today = new Date(), week = new Date();
    week.setDate(today.getDate() - 6);
    $("from").value = params.get("from") || iso(week);
    $("to").value = params.get("to") || iso(today);
    if (params.get("by")) $("by").value = params.get("by");
    if (admin && params.get("tenant")) $("tenant").value = params.get("tenant");
    run();
  }
  window.csbotReports = { last: function () { return last; } };  // for the browser test
  if (token) { start(); } else { showLogin(); }
})();
