// Sets dir="auto" on every element of the app page that can hold user or captured text (LNG-02), so
// that right-to-left text aligns and reads right to left in Streamlit's own inputs and text displays,
// which offer no way to set it. Runs in the page's zero-height component frame (same origin) and
// watches the page for new elements; it only adds an attribute, it never reads or writes text.
(function () {
  "use strict";
  var SELECTOR = [
    "input[type='text']", "input:not([type])", "input[type='search']", "textarea",
    "[data-testid='stText']", "[data-testid='stCode'] code", "[data-testid='stAlertContentError'] div",
    "[data-baseweb='select'] [value]", "li[role='option']", "[data-testid='stHtml'] .wb-text"
  ].join(", ");
  var top = window.parent;
  function mark() {
    var found = top.document.querySelectorAll(SELECTOR);
    for (var i = 0; i < found.length; i++) {
      if (found[i].getAttribute("dir") !== "auto") found[i].setAttribute("dir", "auto");
    }
  }
  function send(type, data) {
    var message = Object.assign({ isStreamlitMessage: true, type: type }, data || {});
    top.postMessage(message, window.location.origin);
  }
  // The newest frame owns the watcher: a rerun may replace this frame, and a watcher whose frame is
  // gone stops being called.
  if (top.__wbDirAuto) top.__wbDirAuto.disconnect();
  var observer = new MutationObserver(mark);
  observer.observe(top.document.body, { childList: true, subtree: true });
  top.__wbDirAuto = observer;
  mark();
  send("streamlit:componentReady", { apiVersion: 1 });
  send("streamlit:setFrameHeight", { height: 0 });
})();
