// Live updates for a run in progress: follow the API's event stream and redraw the
// run's live section (server-rendered, so escaping stays on the server) as steps
// arrive, until the outcome. Without JavaScript the page is the same, only static.
(function () {
  "use strict";
  var root = document.getElementById("live");
  if (!root || !root.dataset.events || !window.EventSource) {
    return;
  }
  var busy = false;
  var again = false;
  var finished = false;

  function redraw() {
    if (busy) {
      again = true;
      return Promise.resolve();
    }
    busy = true;
    return fetch(root.dataset.fragment, { credentials: "same-origin", cache: "no-store" })
      .then(function (response) {
        if (!response.ok) {
          throw new Error("HTTP " + response.status);
        }
        return response.text();
      })
      .then(function (html) {
        root.innerHTML = html;
      })
      .catch(function (error) {
        root.setAttribute("data-live-error", String(error));
      })
      .then(function () {
        busy = false;
        if (again) {
          again = false;
          redraw();
        }
      });
  }

  var source = new EventSource(root.dataset.events, { withCredentials: true });
  source.addEventListener("step", function () {
    redraw();
  });
  // The outcome is stored before it is announced; should a redraw still show the run
  // unfinished, look again a few times.
  function settle(tries) {
    redraw().then(function () {
      if (!document.getElementById("outcome") && tries > 0) {
        window.setTimeout(function () { settle(tries - 1); }, 500);
      }
    });
  }

  source.addEventListener("outcome", function () {
    finished = true;
    source.close();
    settle(20);
  });
  source.addEventListener("error", function () {
    // EventSource reconnects on its own (resuming from the last event id); once the
    // stream is closed for good, a final redraw shows whatever the store holds.
    if (source.readyState === EventSource.CLOSED && !finished) {
      finished = true;
      settle(20);
    }
  });
})();
