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

  // Audit entries: when one is opened, fetch the latest signed checkpoint, the server's
  // checkpoint-signing public keys and the entry's inclusion proof; verify the checkpoint's
  // Ed25519 signature with scimtrailNote, then the proof with scimtrailProof against the
  // size and root read from the verified note text, so the browser, not the server,
  // decides whether the entry is in the signed log.
  document.addEventListener("toggle", function (ev) {
    var d = ev.target;
    if (!d.matches || !d.matches("details.entry") || !d.open) return;
    var p = d.querySelector(".proof[data-proof-base]");
    var sig = d.querySelector(".signature");
    if (!p || p.getAttribute("data-state") !== "pending") return;
    var set = function (el, state, msg) { if (el) { el.setAttribute("data-state", state); el.textContent = msg; } };
    if (!window.isSecureContext || !window.crypto || !crypto.subtle) {
      // WebCrypto exists only in secure contexts: say so rather than pretend to check.
      set(sig, "unavailable", "Checkpoint signature: cannot verify signature here — this page is not served over https or from localhost, so the browser offers no WebCrypto. Verify offline with scimtrail audit verify.");
      set(p, "unavailable", "Inclusion proof: cannot verify here for the same reason.");
      return;
    }
    set(p, "checking", "Inclusion proof: checking…");
    set(sig, "checking", "Checkpoint signature: checking…");
    var base = p.getAttribute("data-proof-base"), seq = Number(d.getAttribute("data-seq"));
    var leaf = d.getAttribute("data-leaf-hash");
    var fail = function (msg) { set(p, "bad", "Inclusion proof: " + msg); };
    // The console answers {"error": "…"}, the API {"error": {"message": "…"}}.
    var json = function (r) { return r.json().then(function (b) { if (!r.ok) throw new Error((b.error && b.error.message) || b.error || r.statusText); return b; }); };
    Promise.all([
      fetch(base + "/checkpoint", { credentials: "same-origin" }).then(json),
      fetch("/api/v1/audit/keys", { credentials: "omit" }).then(json)
    ]).then(function (got) {
      var cp = got[0], keys = got[1].keys || [];
      return scimtrailNote.verify(cp.note, keys).then(function (v) {
        if (!v.ok) {
          set(sig, v.unsupported ? "unavailable" : "bad", v.unsupported ? "Checkpoint signature: cannot verify signature here — " + v.reason : "Checkpoint signature NOT verified: " + v.reason);
          set(p, v.unsupported ? "unavailable" : "bad", "Inclusion proof: not checked, because the checkpoint's signature could not be verified.");
          return;
        }
        var size = v.checkpoint.size, root = v.checkpoint.root;
        set(sig, "ok", "Checkpoint signature verified in your browser: " + v.checkpoint.origin + " at " + size + " entries, signed by " + v.key + " (key hash " + v.keyHash + ").");
        if (size < seq) throw new Error("the latest checkpoint (" + size + " entries) does not cover this entry yet; try again in a minute.");
        return fetch(base + "/proof?seq=" + seq + "&size=" + size, { credentials: "same-origin" }).then(json).then(function (pr) {
          if (pr.leaf_hash !== leaf) throw new Error("the log's leaf hash differs from this entry's.");
          return scimtrailProof.verifyInclusion(leaf, seq - 1, size, pr.hashes, root).then(function (ok) {
            if (!ok) { fail("NOT verified: the proof does not lead to the signed root of checkpoint " + size + "."); return; }
            set(p, "ok", "Verified in your browser against checkpoint " + size + " signed by " + v.key + ".");
          });
        });
      });
    }).catch(function (e) {
      fail(e.message);
      if (sig && sig.getAttribute("data-state") === "checking") set(sig, "bad", "Checkpoint signature: not checked — " + e.message);
    });
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

// scimtrailNote verifies a C2SP signed note (https://c2sp.org/signed-note) carrying a C2SP
// tlog checkpoint against note verifier keys ("name+hash+base64", as /api/v1/audit/keys
// serves them) with WebCrypto's Ed25519. It resolves to {ok, key, keyHash, checkpoint:
// {origin, size, root (hex)}} or {ok: false, reason, unsupported}. Only a signature by a
// listed key over the exact note text counts: the size and root come from that text.
var scimtrailNote = (function () {
  var enc = new TextEncoder();
  function b64ToBytes(s) {
    var bin = atob(s), out = new Uint8Array(bin.length);
    for (var i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
    return out;
  }
  function hex(b) {
    return Array.prototype.map.call(b, function (x) { return ("0" + x.toString(16)).slice(-2); }).join("");
  }
  function concat(a, b) { var o = new Uint8Array(a.length + b.length); o.set(a); o.set(b, a.length); return o; }
  // keyHash is the first four bytes of SHA-256(name || "\n" || 0x01 || public key), as hex.
  async function keyHash(name, keyBytes) {
    var h = new Uint8Array(await crypto.subtle.digest("SHA-256", concat(enc.encode(name + "\n"), keyBytes)));
    return hex(h.subarray(0, 4));
  }
  // parseKey reads a verifier key and checks its declared hash against its name and key.
  async function parseKey(vkey) {
    // The base64 part may itself contain "+": only the first two separate fields.
    var parts = /^([^+\s]+)\+([0-9a-f]{8})\+([A-Za-z0-9+\/]+=*)$/.exec(String(vkey));
    if (!parts) throw new Error("malformed verifier key");
    parts = parts.slice(1);
    var raw = b64ToBytes(parts[2]);
    if (raw.length !== 33 || raw[0] !== 1) throw new Error("verifier key " + parts[0] + " is not an Ed25519 key");
    if (await keyHash(parts[0], raw) !== parts[1]) throw new Error("verifier key " + parts[0] + " has a wrong hash");
    return { name: parts[0], hash: parts[1], raw: raw.subarray(1) };
  }
  function parseCheckpoint(text) {
    var lines = text.split("\n");
    if (lines.length < 4 || !/^[1-9][0-9]*$|^0$/.test(lines[1])) throw new Error("the note is not a checkpoint");
    var root = b64ToBytes(lines[2]);
    if (root.length !== 32) throw new Error("the checkpoint's root is not a SHA-256 hash");
    return { origin: lines[0], size: Number(lines[1]), root: hex(root) };
  }
  async function verify(noteText, verifierKeys) {
    verifierKeys = verifierKeys || [];
    var i = noteText.indexOf("\n\n");
    if (i < 0 || noteText[noteText.length - 1] !== "\n") return { ok: false, reason: "the checkpoint is not a signed note." };
    var text = noteText.slice(0, i + 1), cp;
    try { cp = parseCheckpoint(text); } catch (e) { return { ok: false, reason: e.message + "." }; }
    var keys = [];
    for (var k = 0; k < verifierKeys.length; k++) {
      try { keys.push(await parseKey(verifierKeys[k])); } catch (e) { /* a bad key verifies nothing */ }
    }
    if (!keys.length) return { ok: false, reason: "the server publishes no usable checkpoint-signing key." };
    var sigLines = noteText.slice(i + 2, -1).split("\n"), sawName = false;
    for (var s = 0; s < sigLines.length; s++) {
      var m = /^\u2014 (\S+) (\S+)$/.exec(sigLines[s]);
      if (!m) return { ok: false, reason: "the note has a malformed signature line." };
      var sig;
      try { sig = b64ToBytes(m[2]); } catch (e) { return { ok: false, reason: "the note has a malformed signature." }; }
      if (sig.length !== 68) continue;
      var h = hex(sig.subarray(0, 4));
      for (var j = 0; j < keys.length; j++) {
        if (keys[j].name !== m[1]) continue;
        sawName = true;
        if (keys[j].hash !== h) continue;
        var pub;
        try {
          pub = await crypto.subtle.importKey("raw", keys[j].raw, { name: "Ed25519" }, false, ["verify"]);
        } catch (e) {
          return { ok: false, unsupported: true, reason: "this browser cannot check Ed25519 signatures (" + e.name + ")." };
        }
        if (await crypto.subtle.verify({ name: "Ed25519" }, pub, sig.subarray(4), enc.encode(text))) {
          return { ok: true, key: keys[j].name, keyHash: h, checkpoint: cp };
        }
        return { ok: false, reason: "the signature by " + m[1] + " does not match the checkpoint's text: the checkpoint was altered or signed by another key." };
      }
    }
    return { ok: false, reason: sawName ? "no published key with that name made the signature (a wrong or unknown key)." : "no signature by a key the server publishes." };
  }
  return { verify: verify };
})();
