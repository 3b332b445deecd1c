// A small script served by StaticFileHandler (GET /static/app.js).
document.addEventListener("DOMContentLoaded", () => {
  console.log("demo app: static script loaded");
});
