// Customer updates page: live progress of campaigns (and their Cancel buttons).
// The campaign worker publishes a "campaign" event on /console/events when progress
// moves; we then fetch /console/updates/progress and update the counts. A slow poll
// covers a dropped stream. New campaigns (created in another tab or by the CLI)
// appear on the next reload.
(function () {
  "use strict";

  var table = document.getElementById("campaigns");
  if (!table) return;

  function update(data) {
    (data.campaigns || []).forEach(function (c) {
      var row = document.getElementById("campaign-" + c.id);
      if (!row) return;
      ["sent", "failed", "pending", "skipped", "cancelled", "status"].forEach(function (key) {
        var cell = row.querySelector('[data-count="' + key + '"]');
        if (cell) cell.textContent = String(c[key]);
      });
      // Done or cancelled elsewhere (CLI, API, another tab): nothing left to cancel.
      var cancel = row.querySelector("[data-cancel]");
      if (cancel && c.status !== "sending") cancel.remove();
    });
  }

  var busy = false;
  function refresh() {
    if (busy) return;
    busy = true;
    fetch("/console/updates/progress", { credentials: "same-origin" })
      .then(function (response) { return response.ok ? response.json() : null; })
      .then(function (data) { if (data) update(data); })
      .catch(function () { /* the next event or poll tries again */ })
      .then(function () { busy = false; });
  }

  if (window.EventSource) {
    var source = new EventSource("/console/events");
    source.addEventListener("campaign", refresh);
    source.onopen = refresh;
  }
  window.setInterval(refresh, 5000);
})();
