// Passkeys and security keys (WebAuthn) for staff pages. The browser's own
// navigator.credentials does the work; nothing is fetched from anywhere. A form marked
// data-passkey="create" or "get" reads its options from its data-options attribute
// (JSON: the policy allows no inline script, not even a data block), asks the browser, puts the answer into the hidden "response" field and
// submits the form as usual. Without JavaScript the start button stays hidden and the
// page's <noscript> text explains the other ways in. Words come from the page
// (data-* attributes), so they are in the page's language.
(function () {
  "use strict";

  function fromB64url(text) {
    var b64 = text.replace(/-/g, "+").replace(/_/g, "/");
    while (b64.length % 4) { b64 += "="; }
    var raw = atob(b64);
    var bytes = new Uint8Array(raw.length);
    for (var i = 0; i < raw.length; i++) { bytes[i] = raw.charCodeAt(i); }
    return bytes.buffer;
  }

  function toB64url(buffer) {
    var bytes = new Uint8Array(buffer);
    var raw = "";
    for (var i = 0; i < bytes.length; i++) { raw += String.fromCharCode(bytes[i]); }
    return btoa(raw).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
  }

  function creationOptions(o) {
    o.challenge = fromB64url(o.challenge);
    o.user.id = fromB64url(o.user.id);
    (o.excludeCredentials || []).forEach(function (c) { c.id = fromB64url(c.id); });
    return o;
  }

  function requestOptions(o) {
    o.challenge = fromB64url(o.challenge);
    (o.allowCredentials || []).forEach(function (c) { c.id = fromB64url(c.id); });
    return o;
  }

  function asJSON(cred) {
    var r = cred.response;
    var out = {
      id: cred.id, rawId: toB64url(cred.rawId), type: cred.type,
      clientExtensionResults: cred.getClientExtensionResults(),
      authenticatorAttachment: cred.authenticatorAttachment || undefined,
      response: { clientDataJSON: toB64url(r.clientDataJSON) }
    };
    if (r.attestationObject) {
      out.response.attestationObject = toB64url(r.attestationObject);
      out.response.transports = r.getTransports ? r.getTransports() : [];
    } else {
      out.response.authenticatorData = toB64url(r.authenticatorData);
      out.response.signature = toB64url(r.signature);
      if (r.userHandle) { out.response.userHandle = toB64url(r.userHandle); }
    }
    return JSON.stringify(out);
  }

  function setUp(form) {
    var mode = form.getAttribute("data-passkey");
    var button = form.querySelector("[data-passkey-start]");
    var status = form.querySelector("[data-passkey-status]");
    var options = form.getAttribute("data-options");
    if (!button || !options || !window.PublicKeyCredential || !navigator.credentials) {
      if (status) { status.textContent = form.getAttribute("data-unsupported") || ""; }
      return;
    }
    button.hidden = false;
    button.addEventListener("click", function () {
      var name = form.querySelector("[name=name]");
      if (name && !name.value.trim()) {
        // Let the server say what is missing, in the page's words.
        form.submit();
        return;
      }
      var parsed = JSON.parse(options);
      var call = mode === "create"
        ? navigator.credentials.create({ publicKey: creationOptions(parsed) })
        : navigator.credentials.get({ publicKey: requestOptions(parsed) });
      status.textContent = form.getAttribute("data-waiting") || "";
      call.then(function (cred) {
        form.querySelector("[name=response]").value = asJSON(cred);
        form.submit();
      }, function () {
        status.textContent = form.getAttribute("data-failed") || "";
      });
    });
  }

  document.addEventListener("DOMContentLoaded", function () {
    var forms = document.querySelectorAll("form[data-passkey]");
    for (var i = 0; i < forms.length; i++) { setUp(forms[i]); }
  });
})();
