package ledger

// EncodeGeneral exposes the general encoding path so the external tests can compare the
// fast path with it.
var EncodeGeneral = encodeGeneral
