package ledger_test

import (
	"bytes"
	"crypto/sha256"
	"testing"
	"time"

	"github.com/scimtrail/scimtrail"
	"github.com/scimtrail/scimtrail/ledger"
	"github.com/transparency-dev/merkle/rfc6962"
)

func TestEncodeIsCanonical(t *testing.T) {
	e := scimtrail.Entry{V: 1, Tenant: "acme", Seq: 42, Time: time.Date(2026, 11, 29, 6, 40, 0, 123456000, time.UTC),
		Action: "user.deactivated", Actor: scimtrail.Actor{Type: scimtrail.ActorIdPSync, ID: "tok1"}, Channel: scimtrail.ChannelSCIM,
		Target:  &scimtrail.Target{Type: "User", ID: "u1", Display: "alice@example.com"},
		Changes: []scimtrail.Change{{Path: "active", Old: true, New: false}}}
	got, err := ledger.Encode(e)
	if err != nil {
		t.Fatal(err)
	}
	// RFC 8785 §3.2.3: members sorted by key, no insignificant whitespace.
	want := `{"action":"user.deactivated","actor":{"id":"tok1","type":"idp_sync"},"changes":[{"new":false,"old":true,"path":"active"}],"channel":"scim","seq":42,"target":{"display":"alice@example.com","id":"u1","type":"User"},"tenant":"acme","time":"2026-11-29T06:40:00.123456Z","v":1}`
	if string(got) != want {
		t.Fatalf("Encode:\n got %s\nwant %s", got, want)
	}
	back, err := ledger.Decode(got)
	if err != nil {
		t.Fatal(err)
	}
	again, _ := ledger.Encode(back)
	if !bytes.Equal(again, got) {
		t.Fatalf("re-encoding a decoded entry changed it:\n%s\n%s", again, got)
	}
}

func TestLeafHashIsRFC6962(t *testing.T) {
	body := []byte(`{"v":1}`)
	h := sha256.Sum256(append([]byte{0}, body...))
	if got := ledger.LeafHash(body); !bytes.Equal(got, h[:]) {
		t.Fatalf("LeafHash = %x, want %x", got, h)
	}
}

// Appending in several steps must give the same root as hashing all leaves at once.
func TestAppendMatchesTreeRoot(t *testing.T) {
	head := scimtrail.LedgerHead{Tenant: "acme"}
	var leaves [][]byte
	at := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for step := 1; step <= 9; step++ {
		entries := make([]scimtrail.Entry, step)
		for i := range entries {
			entries[i] = scimtrail.Entry{Action: "user.created", Actor: scimtrail.Actor{Type: "system"}, Channel: "system"}
		}
		stored, next, err := ledger.Append(head, entries, at)
		if err != nil {
			t.Fatal(err)
		}
		for i, s := range stored {
			if want := head.Size + int64(i) + 1; s.Seq != want {
				t.Fatalf("seq = %d, want %d", s.Seq, want)
			}
			leaves = append(leaves, s.LeafHash)
		}
		head = next
		root, err := ledger.Root(head)
		if err != nil {
			t.Fatal(err)
		}
		if want := referenceRoot(leaves); !bytes.Equal(root, want) {
			t.Fatalf("size %d: root %x, want %x", head.Size, root, want)
		}
	}
}

// referenceRoot is RFC 6962 §2.1 MTH, written out recursively.
func referenceRoot(leaves [][]byte) []byte {
	switch len(leaves) {
	case 0:
		return rfc6962.DefaultHasher.EmptyRoot()
	case 1:
		return leaves[0]
	}
	k := 1
	for k*2 < len(leaves) {
		k *= 2
	}
	return rfc6962.DefaultHasher.HashChildren(referenceRoot(leaves[:k]), referenceRoot(leaves[k:]))
}
