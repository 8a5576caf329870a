// caas dashboard: the little that needs a script. Pages work without it (they then refresh
// themselves with <noscript> meta refresh while something is building).
//  - [data-refresh]: while the element says data-busy="1", fetch its URL every 2 s and swap its
//    HTML in (the server renders the fragment); a 401 reloads the page, which goes to the login.
//  - [data-confirm] on a form: ask before submitting.
//  - [data-back]: go back in history.
(function () {
  "use strict";
  function refresh(el) {
    if (el.getAttribute("data-busy") !== "1") return;
    setTimeout(function () {
      fetch(el.getAttribute("data-refresh"), { headers: { "X-Caas-Partial": "1" }, credentials: "same-origin" })
        .then(function (r) {
          if (r.status === 401) { location.reload(); return null; }
          return r.ok ? r.text() : null;
        })
        .then(function (text) {
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
    document.querySelectorAll("form[data-confirm]").forEach(function (form) {
      form.addEventListener("submit", function (ev) {
        if (!window.confirm(form.getAttribute("data-confirm"))) ev.preventDefault();
      });
    });
    document.querySelectorAll("[data-back]").forEach(function (a) {
      a.addEventListener("click", function (ev) {
        if (history.length > 1) { ev.preventDefault(); history.back(); }
      });
    });
  });
})();
