// The replay's inner page was asked for before ReplayWeb.page's service worker controlled it (it
// installs on first use, slowly on a busy machine): wait for the worker, then load the page again,
// this time through it. At most three tries, so a worker that never takes over cannot loop.
(function () {
  "use strict";
  var key = "wb-replay-wait";
  var tries = Number(sessionStorage.getItem(key) || "0");
  if (!("serviceWorker" in navigator) || tries >= 3) {
    document.body.textContent = "The replay could not start in this browser.";
    return;
  }
  navigator.serviceWorker.ready.then(function () {
    sessionStorage.setItem(key, String(tries + 1));
    window.location.reload();
  });
})();
