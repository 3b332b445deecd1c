// The chat page's script (GET /chat/static/chat.js). No framework: fetch()
// and the DOM.
//
// Sending: the form's text goes to POST /chat/new as `body=TEXT`; the answer
// is the new message, but we do not show it from here: it comes back to us,
// as to every other reader, through the long poll.
//
// Receiving: POST /chat/updates with `cursor=ID`, the id of the last message
// we have shown (empty at first, which asks for every message the server
// keeps). The server holds the request open until a newer message exists,
// then answers {"messages": [...]}; we show them and ask again at once. A
// failed poll waits a little before the next try, so a stopped server is not
// hammered.

const inbox = document.getElementById("inbox");
const statusLine = document.getElementById("status");
const form = document.getElementById("compose");
const input = document.getElementById("body");

let cursor = "";
const retryDelayMs = 2000;

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

async function poll() {
  for (;;) {
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
      statusLine.textContent = "connected";
    } catch (error) {
      statusLine.textContent = "connection lost, retrying (" + error.message + ")";
      await new Promise((resolve) => setTimeout(resolve, retryDelayMs));
    }
  }
}

async function send(event) {
  event.preventDefault();
  const text = input.value.trim();
  if (text === "") {
    return;
  }
  try {
    const response = await fetch("/chat/new", {
      method: "POST",
      body: new URLSearchParams({ body: text }),
    });
    if (!response.ok) {
      throw new Error("HTTP " + response.status);
    }
    input.value = "";
  } catch (error) {
    statusLine.textContent = "could not send (" + error.message + ")";
  }
  input.focus();
}

form.addEventListener("submit", send);
poll();
