// Helpdesk console: live updates without a framework.
//
// The server's event stream (/console/events) only says that a conversation changed.
// We then fetch the page we are on again and swap in its live regions:
//   data-live="replace"  the element is replaced as a whole (inbox list, state, tabs);
//   data-live="append"   children whose id we do not have yet are appended (transcript,
//                        notes), so nothing the agent is reading or typing moves.
// Forms are never touched: a half-written reply survives every refresh.
(function () {
  "use strict";

  var page = document.body.dataset.page;
  var conversationId = document.body.dataset.conversationId;
  var status = document.getElementById("live-status");

  function pad(n) {
    return n < 10 ? "0" + n : String(n);
  }

  function elapsed(seconds) {
    seconds = Math.max(0, Math.floor(seconds));
    if (seconds < 60) return "just now";
    var minutes = Math.floor(seconds / 60);
    if (minutes < 60) return minutes + " min";
    var hours = Math.floor(minutes / 60);
    if (hours < 24) return hours + " h " + pad(minutes % 60) + " min";
    return Math.floor(hours / 24) + " d " + (hours % 24) + " h";
  }

  // Times arrive in UTC; show them in the agent's own time zone.
  function localizeTimes(root) {
    root.querySelectorAll("time[data-local]").forEach(function (el) {
      var when = new Date(el.getAttribute("datetime"));
      if (isNaN(when)) return;
      var sameDay = when.toDateString() === new Date().toDateString();
      el.textContent = sameDay
        ? pad(when.getHours()) + ":" + pad(when.getMinutes())
        : when.toLocaleDateString(undefined, { day: "numeric", month: "short" }) +
          " " + pad(when.getHours()) + ":" + pad(when.getMinutes());
      el.title = when.toLocaleString();
    });
  }

  function tickWaiting() {
    var now = Date.now();
    document.querySelectorAll("[data-since]").forEach(function (el) {
      var since = Date.parse(el.dataset.since);
      if (!isNaN(since)) el.textContent = elapsed((now - since) / 1000);
    });
  }

  function setStatus(state, text) {
    if (!status) return;
    status.dataset.state = state;
    status.textContent = text;
  }

  function swap(fresh) {
    document.querySelectorAll("[data-live]").forEach(function (current) {
      var next = fresh.getElementById(current.id);
      if (!next) return;
      if (current.dataset.live === "append") {
        var added = null;
        Array.prototype.forEach.call(next.children, function (child) {
          if (child.id && !document.getElementById(child.id)) {
            added = document.importNode(child, true);
            current.appendChild(added);
          }
        });
        if (added) {
          var empty = current.parentElement.querySelector(".empty");
          if (empty) empty.remove();
          localizeTimes(current);
          if (page === "conversation" && current.id === "transcript") {
            added.classList.add("is-new");
          }
        }
      } else {
        var replacement = document.importNode(next, true);
        current.replaceWith(replacement);
        localizeTimes(replacement);
      }
    });
    tickWaiting();
  }

  var refreshing = false;
  var again = false;

  // Coalesces bursts of events into at most one fetch in flight plus one after it.
  function refresh() {
    if (refreshing) {
      again = true;
      return;
    }
    refreshing = true;
    fetch(window.location.href, {
      credentials: "same-origin",
      headers: { "X-Console-Live": "1" },
    })
      .then(function (response) {
        if (response.redirected && response.url.indexOf("/console/login") !== -1) {
          window.location.reload(); // the session ended: show the login page
          return null;
        }
        return response.ok ? response.text() : null;
      })
      .then(function (html) {
        if (html) swap(new DOMParser().parseFromString(html, "text/html"));
      })
      .catch(function () {
        /* the stream's reconnect will refresh again */
      })
      .then(function () {
        refreshing = false;
        if (again) {
          again = false;
          refresh();
        }
      });
  }

  function relevant(event) {
    if (page === "alerts") return event.type === "alert";
    if (page === "inbox") return event.type !== "alert";
    if (page === "conversation") return String(event.conversation_id) === conversationId;
    return false;
  }

  function connect() {
    var live = ["inbox", "conversation", "alerts"];
    if (!window.EventSource || live.indexOf(page) === -1) return;
    var source = new EventSource("/console/events");
    var opened = false;
    source.onopen = function () {
      setStatus("live", "Live");
      // After a reconnect, catch up on whatever happened while we were away.
      if (opened) refresh();
      opened = true;
    };
    source.onerror = function () {
      if (source.readyState === EventSource.CLOSED) {
        // 401: the session is gone. Reloading lands on the login page.
        setStatus("down", "Offline");
        window.setTimeout(function () { window.location.reload(); }, 3000);
      } else {
        setStatus("reconnecting", "Reconnecting…");
      }
    };
    ["message", "state", "note", "alert"].forEach(function (type) {
      source.addEventListener(type, function (message) {
        var event;
        try {
          event = JSON.parse(message.data);
        } catch (error) {
          return;
        }
        if (relevant(event)) refresh();
      });
    });
  }

  localizeTimes(document);
  tickWaiting();
  window.setInterval(tickWaiting, 30000);
  connect();
})();
