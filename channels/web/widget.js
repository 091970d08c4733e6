// The snippet a shop pastes into its pages:
//   <script src="https://<platform>/webhooks/socketio/widget.js" data-customer-token="<JWT the shop signs>" async></script>
// It adds a chat button; the chat itself runs in an iframe served by the platform (its own origin, its own styles).
(function () {
  "use strict";
  var me = document.currentScript;
  if (!me || window.__csbotWidget) return;
  window.__csbotWidget = true;
  var base = me.src.replace(/widget\.js(\?.*)?$/, "");
  var hash = "embed=1";
  var token = me.getAttribute("data-customer-token");
  var title = me.getAttribute("data-title");
  if (token) hash += "&customer_token=" + encodeURIComponent(token);
  if (title) hash += "&title=" + encodeURIComponent(title);

  var button = document.createElement("button");
  button.type = "button";
  button.textContent = "在线客服";
  button.setAttribute("aria-label", "打开在线客服");
  button.style.cssText = "position:fixed;right:16px;bottom:16px;z-index:2147483646;border:0;border-radius:24px;" +
    "padding:12px 18px;background:#ff5a3c;color:#fff;font-size:15px;box-shadow:0 4px 12px rgba(0,0,0,.2);cursor:pointer";
  var frame = null;

  function place() {
    var phone = window.innerWidth < 600;
    frame.style.cssText = "position:fixed;z-index:2147483647;border:0;background:#fff;box-shadow:0 8px 30px rgba(0,0,0,.25);" +
      (phone ? "inset:0;width:100%;height:100%;" : "right:16px;bottom:76px;width:380px;height:600px;max-height:calc(100vh - 96px);border-radius:12px;");
  }
  function toggle() {
    if (!frame) {
      frame = document.createElement("iframe");
      frame.title = "在线客服";
      frame.src = base + "chat#" + hash;
      place();
      document.body.appendChild(frame);
      window.addEventListener("resize", place);
      window.addEventListener("message", function (e) {
        if (e.source === frame.contentWindow && e.data && e.data.csbot === "close") toggle();
      });
      return;
    }
    frame.style.display = frame.style.display === "none" ? "" : "none";
  }
  button.addEventListener("click", toggle);
  (document.body ? Promise.resolve() : new Promise(function (r) { document.addEventListener("DOMContentLoaded", r); }))
    .then(function () { document.body.appendChild(button); });
})();
