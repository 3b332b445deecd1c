// The chat page's script (GET /chat/static/chat.js). No framework: fetch(),
// WebSocket and the DOM.
//
// One page, two transports, chosen by the address:
//
//   /chat                          long polling (the default, Tornado's demo)
//   /chat?transport=websocket      a WebSocket on /chat/ws
//
// Both talk to the same room on the server, so a long-polling page and a
// WebSocket page see each other's messages. Whichever brought it, a message
// is the JSON {"id", "body", "html"} and is shown by showMessage().
//
// The page arrives with the messages the server keeps already in #inbox
// (GET /chat renders templates/index.html, each message with the same
// message.html that makes "html"); the script only adds newer ones.
//
// Long polling. Sending: the form's text goes to POST /chat/new as
// `body=TEXT`; the answer is the new message, but we do not show it from
// here: it comes back to us, as to every other reader, through the long poll.
// Receiving: POST /chat/updates with `cursor=ID`, the id of the last message
// we have shown: at first the last one the server rendered into the page
// (empty if it rendered none, which asks for every message the server
// keeps). The server holds the request open until a newer message exists,
// then answers {"messages": [...]}; we show them and ask again at once. A
// failed poll waits a little before the next try, so a stopped server is not
// hammered.
//
// WebSocket. Sending: a text frame {"body": TEXT}. Receiving: every new
// message arrives as a text frame of its JSON, ours included (the same
// round trip as above). The socket sends no history (the page brought it):
// a socket sees only the messages posted while it is open. When it closes we
// wait a little and open a new one; what was said in between is not replayed
// (long polling's cursor does catch up).

const inbox = document.getElementById("inbox");
const statusLine = document.getElementById("status");
const form = document.getElementById("compose");
const input = document.getElementById("body");
const switchLink = document.getElementById("switch");

const retryDelayMs = 2000;
const useWebSocket = new URLSearchParams(location.search).get("transport") === "websocket";

function showMessage(message) {
  // Skip a message already shown (a retried poll may repeat it).
  if (document.getElementById("m" + message.id)) {
    return;
  }
  // "html" was built by the server's template with autoescape on, so the
  // user's text in it is already escaped.
  const holder = document.createElement("div");
  holder.innerHTML = message.html;
  while (holder.firstChild) {
    inbox.appendChild(holder.firstChild);
  }
  inbox.scrollTop = inbox.scrollHeight;
}

function sleep(ms) {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

// --- long polling ------------------------------------------------------------

// Start after the last message the server rendered into the page (its
// element's id is "m" + the message's id), so that the first poll waits for
// news instead of fetching the page's messages again. Should the server have
// dropped that message by then, it answers every one it keeps, and
// showMessage() skips those already here.
function lastRenderedId() {
  const rendered = inbox.querySelectorAll(".message");
  return rendered.length === 0 ? "" : rendered[rendered.length - 1].id.slice("m".length);
}

let cursor = lastRenderedId();
// A poll is answered only when there is news, which may be minutes away, so
// "connected" cannot wait for the answer. A poll still open after this long
// has reached a server that is holding it (a stopped server fails at once).
const pollHeldMs = 1000;

async function poll() {
  for (;;) {
    const held = setTimeout(() => {
      statusLine.textContent = "connected (long polling)";
    }, pollHeldMs);
    let failure = null;
    try {
      const response = await fetch("/chat/updates", {
        method: "POST",
        body: new URLSearchParams({ cursor }),
      });
      if (!response.ok) {
        throw new Error("HTTP " + response.status);
      }
      const answer = await response.json();
      for (const message of answer.messages) {
        showMessage(message);
        cursor = message.id;
      }
      statusLine.textContent = "connected (long polling)";
    } catch (error) {
      failure = error;
    }
    clearTimeout(held);
    if (failure !== null) {
      statusLine.textContent = "connection lost, retrying (long polling: " + failure.message + ")";
      await sleep(retryDelayMs);
    }
  }
}

async function sendByPost(text) {
  const response = await fetch("/chat/new", {
    method: "POST",
    body: new URLSearchParams({ body: text }),
  });
  if (!response.ok) {
    throw new Error("HTTP " + response.status);
  }
}

// --- WebSocket ---------------------------------------------------------------

let socket = null;

function connectWebSocket() {
  // The page's own host and scheme: ws:// next to http://, wss:// next to
  // https:// (a browser refuses a plain ws:// from an https:// page).
  const scheme = location.protocol === "https:" ? "wss://" : "ws://";
  const ws = new WebSocket(scheme + location.host + "/chat/ws");
  ws.onopen = () => {
    socket = ws;
    statusLine.textContent = "connected (WebSocket)";
  };
  ws.onmessage = (event) => {
    showMessage(JSON.parse(event.data));
  };
  // A failed handshake and a dropped connection both end here ("error"
  // always comes with a "close"), so this is the one place that reconnects.
  ws.onclose = (event) => {
    socket = null;
    statusLine.textContent =
      "connection lost, reconnecting (WebSocket: code " + event.code + ")";
    setTimeout(connectWebSocket, retryDelayMs);
  };
}

function sendBySocket(text) {
  if (socket === null) {
    throw new Error("not connected");
  }
  socket.send(JSON.stringify({ body: text }));
}

// --- the page ----------------------------------------------------------------

async function send(event) {
  // The form would POST and leave the page; we send in the background.
  event.preventDefault();
  const text = input.value.trim();
  if (text === "") {
    return;
  }
  try {
    if (useWebSocket) {
      sendBySocket(text);
    } else {
      await sendByPost(text);
    }
    input.value = "";
  } catch (error) {
    statusLine.textContent = "could not send (" + error.message + ")";
  }
  input.focus();
}

// The link offers the other transport, on the same path.
if (useWebSocket) {
  switchLink.href = location.pathname;
  switchLink.textContent = "switch to long polling";
} else {
  switchLink.href = location.pathname + "?transport=websocket";
  switchLink.textContent = "switch to WebSocket";
}

form.addEventListener("submit", send);
if (useWebSocket) {
  connectWebSocket();
} else {
  poll();
}
