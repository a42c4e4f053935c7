// Passkeys: adding one on /account/security and signing in with one on /auth/login.
// The buttons stay hidden unless the browser has WebAuthn (window.PublicKeyCredential);
// without JavaScript the shop works as before. No inline script, no outside asset (CSP).
(function () {
  "use strict";
  if (!window.PublicKeyCredential || !window.fetch) { return; }

  function toBytes(text) {
    var base64 = text.replace(/-/g, "+").replace(/_/g, "/");
    while (base64.length % 4) { base64 += "="; }
    var raw = atob(base64);
    var bytes = new Uint8Array(raw.length);
    for (var i = 0; i < raw.length; i++) { bytes[i] = raw.charCodeAt(i); }
    return bytes.buffer;
  }

  function toText(buffer) {
    var bytes = new Uint8Array(buffer);
    var raw = "";
    for (var i = 0; i < bytes.length; i++) { raw += String.fromCharCode(bytes[i]); }
    return btoa(raw).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
  }

  function csrfToken() {
    var meta = document.querySelector('meta[name="csrf-token"]');
    return meta ? meta.getAttribute("content") : "";
  }

  function post(url, body) {
    return fetch(url, {
      method: "POST",
      credentials: "same-origin",
      headers: {"Content-Type": "application/json", "X-CSRFToken": csrfToken()},
      body: JSON.stringify(body || {})
    }).then(function (response) {
      return response.json().then(function (data) {
        if (!response.ok) { throw new Error(data.error || "The request was refused."); }
        return data;
      });
    });
  }

  function descriptors(list) {
    return (list || []).map(function (item) {
      return {type: item.type, id: toBytes(item.id), transports: item.transports};
    });
  }

  function credentialJSON(credential) {
    var response = credential.response;
    var out = {
      id: credential.id,
      rawId: toText(credential.rawId),
      type: credential.type,
      clientExtensionResults: credential.getClientExtensionResults ? credential.getClientExtensionResults() : {},
      response: {clientDataJSON: toText(response.clientDataJSON)}
    };
    if (credential.authenticatorAttachment) { out.authenticatorAttachment = credential.authenticatorAttachment; }
    if (response.attestationObject) {
      out.response.attestationObject = toText(response.attestationObject);
      if (response.getTransports) { out.response.transports = response.getTransports(); }
    } else {
      out.response.authenticatorData = toText(response.authenticatorData);
      out.response.signature = toText(response.signature);
      if (response.userHandle) { out.response.userHandle = toText(response.userHandle); }
    }
    return out;
  }

  function say(box, text) {
    var status = box.querySelector("[data-passkey-status]");
    if (status) { status.textContent = text; }
  }

  // Adding a passkey (/account/security).
  var register = document.querySelector("[data-passkey-register]");
  if (register) {
    register.hidden = false;
    var add = register.querySelector("[data-passkey-add]");
    add.addEventListener("click", function () {
      var name = register.querySelector("#passkey-name").value;
      add.disabled = true;
      say(register, "Follow your browser's prompt…");
      post(add.getAttribute("data-options-url")).then(function (options) {
        options.challenge = toBytes(options.challenge);
        options.user.id = toBytes(options.user.id);
        options.excludeCredentials = descriptors(options.excludeCredentials);
        return navigator.credentials.create({publicKey: options});
      }).then(function (credential) {
        return post(add.getAttribute("data-verify-url"), {name: name, credential: credentialJSON(credential)});
      }).then(function (answer) {
        window.location.assign(answer.redirect);
      }).catch(function (error) {
        add.disabled = false;
        say(register, error.message || "The passkey was not added.");
      });
    });
  }

  // Signing in with a passkey (/auth/login).
  var signIn = document.querySelector("[data-passkey-sign-in]");
  if (signIn) {
    signIn.hidden = false;
    var button = signIn.querySelector("button");
    button.addEventListener("click", function () {
      button.disabled = true;
      say(signIn, "Follow your browser's prompt…");
      post(signIn.getAttribute("data-options-url")).then(function (options) {
        options.challenge = toBytes(options.challenge);
        options.allowCredentials = descriptors(options.allowCredentials);
        return navigator.credentials.get({publicKey: options});
      }).then(function (credential) {
        return post(signIn.getAttribute("data-verify-url"), {
          credential: credentialJSON(credential), next: signIn.getAttribute("data-next") || ""
        });
      }).then(function (answer) {
        window.location.assign(answer.redirect);
      }).catch(function (error) {
        button.disabled = false;
        say(signIn, error.message || "Signing in with a passkey did not work.");
      });
    });
  }
}());
