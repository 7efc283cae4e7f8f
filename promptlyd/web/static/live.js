// A running run's page follows the daemon's event stream (GET /api/promptly/events,
// behind the same session cookie): on this run's run.* events it re-fetches the page's
// live fragment and swaps it in. It runs before htmx sets up the fragment's 1 s polling
// and takes that polling off; a browser without EventSource keeps the polling, one
// without JavaScript the <noscript> refresh. If the stream is refused (the session
// ended), it polls as htmx would have.
(function () {
  "use strict";
  var POLL_MS = 1000;
  if (typeof window.EventSource !== "function") {
    return;
  }
  var body = document.getElementById("run-body");
  if (!body || !body.getAttribute("data-live")) {
    return;
  }
  var runId = body.getAttribute("data-run");
  var url = body.getAttribute("data-live") + "?via=events";
  var source = null;
  var busy = false;
  var again = false;
  var done = false;

  function unpoll(element) {
    element.removeAttribute("hx-get");
    element.removeAttribute("hx-trigger");
    element.removeAttribute("hx-swap");
  }

  function finish() {
    done = true;
    if (source) {
      source.close();
    }
  }

  function refresh() {
    if (done) {
      return;
    }
    if (busy) {
      again = true;
      return;
    }
    busy = true;
    fetch(url, {credentials: "same-origin"}).then(function (answer) {
      if (!answer.ok) {
        throw new Error("the run's fragment answered " + answer.status);
      }
      return answer.text();
    }).then(function (html) {
      var holder = document.createElement("template");
      holder.innerHTML = html;
      var fresh = holder.content.getElementById("run-body");
      var current = document.getElementById("run-body");
      if (!fresh || !current) {
        return;
      }
      unpoll(fresh);
      current.replaceWith(fresh);
      if (!fresh.getAttribute("data-live")) {
        finish();  // the run has finished: nothing more to follow
      }
    }).catch(function () {
      // a failed fetch: the next event (or the fallback poll) tries again
    }).finally(function () {
      busy = false;
      if (again) {
        again = false;
        refresh();
      }
    });
  }

  function poll() {
    if (!done) {
      refresh();
      window.setTimeout(poll, POLL_MS);
    }
  }

  function onRun(event) {
    var data;
    try {
      data = JSON.parse(event.data);
    } catch (e) {
      return;
    }
    if (data.runId === runId) {
      refresh();
    }
  }

  unpoll(body);
  source = new window.EventSource("/api/promptly/events?types=run.*");
  // on (re)connecting: catch up with what happened while there was no stream
  source.addEventListener("open", refresh);
  ["run.started", "run.completed", "run.failed"].forEach(function (type) {
    source.addEventListener(type, onRun);
  });
  source.addEventListener("dropped", refresh);
  source.addEventListener("error", function () {
    if (source.readyState === window.EventSource.CLOSED && !done) {
      source = null;
      poll();  // refused for good (no session): poll as htmx would have
    }
  });
})();
