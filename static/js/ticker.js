// A worker's clock for the recorder: a page's own timers slow to once a second when its tab is
// hidden, a worker's do not. Post the period in ms to start, 0 to stop; it posts back a tick,
// and the next one only once the page has answered "done" (a busy page skips frames, it never
// gets a backlog of them).
let timer = null;
let waiting = false;
self.onmessage = (event) => {
  if (event.data === "done") {
    waiting = false;
    return;
  }
  clearInterval(timer);
  waiting = false;
  timer = event.data > 0 ? setInterval(() => {
    if (waiting) return;
    waiting = true;
    self.postMessage(0);
  }, event.data) : null;
};
