// The receipt page's copy button. The page works without it: the button stays hidden
// unless this script runs and the browser offers the clipboard. Its words come from the
// page (data-copied, data-failed), so they are in the page's language.
document.addEventListener("DOMContentLoaded", function () {
  var button = document.getElementById("copy-receipt");
  var receipt = document.getElementById("receipt");
  var status = document.getElementById("copy-status");
  if (!button || !receipt || !navigator.clipboard) {
    return;
  }
  button.hidden = false;
  button.addEventListener("click", function () {
    navigator.clipboard.writeText(receipt.textContent.trim()).then(function () {
      status.textContent = button.getAttribute("data-copied");
    }, function () {
      status.textContent = button.getAttribute("data-failed");
    });
  });
});
