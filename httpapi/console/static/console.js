// scimtrail console: small progressive enhancements. Every page works without this file.
"use strict";

(function () {
  // Copy buttons: <button data-copy="input-id">.
  document.addEventListener("click", function (ev) {
    var b = ev.target.closest("[data-copy]");
    if (!b) return;
    var input = document.getElementById(b.getAttribute("data-copy"));
    if (!input) return;
    input.select();
    var done = function () { b.textContent = "Copied"; };
    if (navigator.clipboard && window.isSecureContext) {
      navigator.clipboard.writeText(input.value).then(done, function () { document.execCommand("copy"); done(); });
    } else {
      document.execCommand("copy");
      done();
    }
  });

  // Break-glass countdowns: <span class="countdown" data-expires="RFC 3339">, ticking each
  // second; the server rendered the same words, so the page is right without this.
  function tick() {
    var now = Date.now();
    document.querySelectorAll(".countdown[data-expires]").forEach(function (el) {
      var left = Math.round((Date.parse(el.getAttribute("data-expires")) - now) / 1000);
      if (left <= 0) { el.textContent = "expired"; return; }
      var h = Math.floor(left / 3600), m = Math.floor(left % 3600 / 60), s = left % 60;
      var pad = function (n) { return (n < 10 ? "0" : "") + n; };
      el.textContent = (h > 0 ? h + "h " + pad(m) + "m " : m + "m ") + pad(s) + "s left";
    });
  }
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", tick); else tick();
  setInterval(tick, 1000);

  // Audit entries: when one is opened, fetch the latest signed checkpoint and the entry's
  // inclusion proof, and verify the proof here with scimtrailProof against the checkpoint's
  // root, so the browser, not the server, decides whether the entry is in the log.
  document.addEventListener("toggle", function (ev) {
    var d = ev.target;
    if (!d.matches || !d.matches("details.entry") || !d.open) return;
    var p = d.querySelector(".proof[data-proof-base]");
    if (!p || p.getAttribute("data-state") !== "pending") return;
    p.setAttribute("data-state", "checking");
    p.textContent = "Inclusion proof: checking…";
    var base = p.getAttribute("data-proof-base"), seq = Number(d.getAttribute("data-seq"));
    var leaf = d.getAttribute("data-leaf-hash");
    var fail = function (msg) { p.setAttribute("data-state", "bad"); p.textContent = "Inclusion proof: " + msg; };
    var json = function (r) { return r.json().then(function (b) { if (!r.ok) throw new Error(b.error || r.statusText); return b; }); };
    fetch(base + "/checkpoint", { credentials: "same-origin" }).then(json).then(function (cp) {
      if (cp.size < seq) throw new Error("the latest checkpoint (" + cp.size + " entries) does not cover this entry yet; try again in a minute.");
      return fetch(base + "/proof?seq=" + seq + "&size=" + cp.size, { credentials: "same-origin" }).then(json).then(function (pr) {
        if (pr.leaf_hash !== leaf) throw new Error("the log's leaf hash differs from this entry's.");
        return scimtrailProof.verifyInclusion(leaf, seq - 1, cp.size, pr.hashes, cp.root).then(function (ok) {
          if (!ok) { fail("NOT verified: the proof does not lead to the signed root of checkpoint " + cp.size + "."); return; }
          p.setAttribute("data-state", "ok");
          p.textContent = "Verified in your browser against checkpoint " + cp.size + " signed by " + cp.key + ".";
        });
      });
    }).catch(function (e) { fail(e.message); });
  }, true);

  // Forms that destroy something ask first: <form data-confirm="…">.
  document.addEventListener("submit", function (ev) {
    var msg = ev.target.getAttribute && ev.target.getAttribute("data-confirm");
    if (msg && !window.confirm(msg)) ev.preventDefault();
  }, true);
})();

// scimtrailProof verifies RFC 6962 inclusion proofs in the browser with WebCrypto, so an
// auditor need not trust the server's word that an entry is in the log: the root recomputed
// here from the entry's leaf hash and the proof must equal the signed checkpoint's root.
// (WebCrypto needs a secure context: https, or http on localhost.)
var scimtrailProof = (function () {
  function hexToBytes(hex) {
    if (hex.length % 2) throw new Error("odd hex length");
    var out = new Uint8Array(hex.length / 2);
    for (var i = 0; i < out.length; i++) out[i] = parseInt(hex.substr(i * 2, 2), 16);
    return out;
  }
  function bytesToHex(b) {
    return Array.prototype.map.call(new Uint8Array(b), function (x) { return ("0" + x.toString(16)).slice(-2); }).join("");
  }
  // hashChildren is RFC 6962's interior node hash: SHA-256(0x01 || left || right).
  async function hashChildren(left, right) {
    var buf = new Uint8Array(1 + left.length + right.length);
    buf[0] = 1;
    buf.set(left, 1);
    buf.set(right, 1 + left.length);
    return new Uint8Array(await crypto.subtle.digest("SHA-256", buf));
  }
  // rootFromInclusionProof follows RFC 9162 §2.1.3.2: leaf at index in a tree of size,
  // proof hashes from the bottom up. It returns the root as hex.
  async function rootFromInclusionProof(leafHex, index, size, proofHex) {
    if (index < 0 || index >= size) throw new Error("index " + index + " is outside a tree of size " + size);
    var fn = index, sn = size - 1;
    var r = hexToBytes(leafHex);
    for (var i = 0; i < proofHex.length; i++) {
      var p = hexToBytes(proofHex[i]);
      if (sn === 0) throw new Error("proof is too long");
      if (fn % 2 === 1 || fn === sn) {
        r = await hashChildren(p, r);
        if (fn % 2 === 0) {
          while (fn % 2 === 0 && fn !== 0) { fn = Math.floor(fn / 2); sn = Math.floor(sn / 2); }
        }
      } else {
        r = await hashChildren(r, p);
      }
      fn = Math.floor(fn / 2);
      sn = Math.floor(sn / 2);
    }
    if (sn !== 0) throw new Error("proof is too short");
    return bytesToHex(r);
  }
  async function verifyInclusion(leafHex, index, size, proofHex, rootHex) {
    var got = await rootFromInclusionProof(leafHex, index, size, proofHex);
    return got === rootHex.toLowerCase();
  }
  return { rootFromInclusionProof: rootFromInclusionProof, verifyInclusion: verifyInclusion };
})();
