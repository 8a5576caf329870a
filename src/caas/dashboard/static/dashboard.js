// caas dashboard: the little that needs a script. Pages work without it (they then refresh
// themselves with <noscript> meta refresh while something is building).
//  - [data-refresh]: while the element says data-busy="1", fetch its URL every 2 s and swap its
//    HTML in (the server renders the fragment); a 401, 403 or 404 reloads the page, which then
//    shows the login or the API's reason.
//  - [data-confirm] on a form: ask before submitting.
//  - [data-back]: go back in history.
(function () {
  "use strict";
  function refresh(el) {
    if (el.getAttribute("data-busy") !== "1") return;
    setTimeout(function () {
      fetch(el.getAttribute("data-refresh"), { headers: { "X-Caas-Partial": "1" }, credentials: "same-origin" })
        .then(function (r) {
          // 401: the session ended; 403/404: the thing is gone or no longer ours. The page
          // itself then says so (the login, or the API's reason), and polling ends with it.
          if (r.status === 401 || r.status === 403 || r.status === 404) { location.reload(); return undefined; }
          return r.ok ? r.text() : null;
        })
        .then(function (text) {
          if (text === undefined) return;
          if (text === null) { refresh(el); return; }
          var tmp = document.createElement("div");
          tmp.innerHTML = text;
          var fresh = tmp.firstElementChild;
          if (fresh) {
            el.replaceWith(fresh);
            refresh(fresh);
          }
        })
        .catch(function () { refresh(el); });
    }, 2000);
  }
  document.addEventListener("DOMContentLoaded", function () {
    document.querySelectorAll("[data-refresh]").forEach(refresh);
    // on the document, not on each form: the forms of a refreshed part are new elements
    document.addEventListener("submit", function (ev) {
      var form = ev.target.closest("form[data-confirm]");
      if (form && !window.confirm(form.getAttribute("data-confirm"))) ev.preventDefault();
    });
    document.querySelectorAll("[data-back]").forEach(function (a) {
      a.addEventListener("click", function (ev) {
        if (history.length > 1) { ev.preventDefault(); history.back(); }
      });
    });
  });
})();
