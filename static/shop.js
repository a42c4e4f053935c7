// Add to cart without leaving the page (issue 16). Without this script the form posts and the
// server sends the shopper back to the page it came from; with it, the same POST runs in the
// background, the header's count and a mini-cart show the result. No external assets.
(function () {
  "use strict";

  function text(node, value) { node.textContent = value; return node; }

  function showMiniCart(message, cart) {
    var box = document.getElementById("mini-cart");
    if (!box) { return; }
    text(box.querySelector(".mini-cart-message"), message);
    var list = box.querySelector(".mini-cart-lines");
    list.replaceChildren();
    (cart ? cart.lines : []).forEach(function (line) {
      var item = document.createElement("li");
      item.setAttribute("data-product-id", line.product_id);
      item.appendChild(text(document.createElement("span"), line.quantity + " × " + line.name));
      item.appendChild(text(document.createElement("span"), line.line_total));
      list.appendChild(item);
    });
    text(box.querySelector(".mini-cart-total"), cart ? "Subtotal: " + cart.subtotal : "");
    box.hidden = false;
  }

  function setCount(count) {
    document.querySelectorAll("[data-cart-count]").forEach(function (badge) {
      badge.setAttribute("data-cart-count", String(count));
      badge.textContent = String(count);
    });
  }

  function submit(event) {
    var form = event.target;
    if (!form.matches || !form.matches("form[data-add-to-cart]") || !window.fetch) { return; }
    // Another button of the form (the wishlist heart's formaction) posts as a plain form.
    if (event.submitter && event.submitter.hasAttribute("formaction")) { return; }
    event.preventDefault();
    var button = form.querySelector("button[type=submit]");
    if (button) { button.disabled = true; }
    fetch(form.action, { method: "POST", body: new FormData(form), credentials: "same-origin" })
      .then(function (response) { return response.text(); })
      .then(function (html) {
        // The page the POST came back to holds the flash and the new count.
        var page = new DOMParser().parseFromString(html, "text/html");
        var flash = page.querySelector(".flash");
        var badge = page.querySelector("[data-cart-count]");
        if (badge) { setCount(badge.getAttribute("data-cart-count")); }
        var message = flash ? flash.textContent.trim() : "Your cart was updated.";
        return fetch(form.getAttribute("data-cart-api") || "/api/cart", { credentials: "same-origin" })
          .then(function (response) { return response.ok ? response.json() : null; })
          .then(function (cart) {
            if (cart) { setCount(cart.count); }
            showMiniCart(message, cart);
          });
      })
      .catch(function () { form.submit(); })
      .finally(function () { if (button) { button.disabled = false; } });
  }

  document.addEventListener("submit", submit);
  document.addEventListener("click", function (event) {
    if (event.target.closest && event.target.closest(".mini-cart-close")) {
      document.getElementById("mini-cart").hidden = true;
    }
  });
}());
