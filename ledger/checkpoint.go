package ledger

import (
	"bytes"
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"golang.org/x/mod/sumdb/note"
)

// HashSize is the size of every hash in the tree: SHA-256.
const HashSize = 32

// Origin is the checkpoint origin line of a tenant's log. The install id keeps two installs'
// logs for a tenant of the same name apart, so a checkpoint of one cannot be passed off as
// the other's.
func Origin(installID, tenant string) string {
	return "scimtrail/" + installID + "/" + tenant
}

// Checkpoint is a signed tree head of a tenant's log: the log had Size entries and Root was
// the RFC 6962 root hash of their leaves.
type Checkpoint struct {
	Origin string
	Size   int64
	Root   []byte
}

// Body is the C2SP tlog-checkpoint note text: the origin, the decimal size and the base64
// root, each on its own line. We write no extension lines.
func (c Checkpoint) Body() []byte {
	var b bytes.Buffer
	b.WriteString(c.Origin)
	b.WriteByte('\n')
	b.WriteString(strconv.FormatInt(c.Size, 10))
	b.WriteByte('\n')
	b.WriteString(base64.StdEncoding.EncodeToString(c.Root))
	b.WriteByte('\n')
	return b.Bytes()
}

// SignCheckpoint returns cp as a signed note. It refuses a checkpoint that OpenCheckpoint
// would reject, so nothing unverifiable is ever published.
func SignCheckpoint(cp Checkpoint, signer note.Signer) ([]byte, error) {
	if err := checkOrigin(cp.Origin); err != nil {
		return nil, err
	}
	if cp.Size < 0 {
		return nil, fmt.Errorf("checkpoint of %s: negative size %d", cp.Origin, cp.Size)
	}
	if len(cp.Root) != HashSize {
		return nil, fmt.Errorf("checkpoint of %s: root is %d bytes, want %d", cp.Origin, len(cp.Root), HashSize)
	}
	msg, err := note.Sign(&note.Note{Text: string(cp.Body())}, signer)
	if err != nil {
		return nil, fmt.Errorf("sign checkpoint of %s: %w", cp.Origin, err)
	}
	return msg, nil
}

// ErrBadSignature is wrapped by OpenCheckpoint's error when the note is well formed but no
// known key made a valid signature on it: the verifier reports that as tampering, not as a
// format error.
var ErrBadSignature = errors.New("checkpoint signature does not verify")

// OpenCheckpoint verifies the signed checkpoint msg with verifiers and parses it. The origin
// line must equal origin; the size must be a canonical decimal and the root canonical base64
// of 32 bytes, because two spellings of one checkpoint would let a log show two "different"
// checkpoints for one tree. Extension lines are allowed and ignored, as C2SP requires.
func OpenCheckpoint(msg []byte, verifiers note.Verifiers, origin string) (Checkpoint, error) {
	n, err := note.Open(msg, verifiers)
	if err != nil {
		var unverified *note.UnverifiedNoteError
		var invalid *note.InvalidSignatureError
		if errors.As(err, &unverified) || errors.As(err, &invalid) {
			return Checkpoint{}, fmt.Errorf("%w: %w", ErrBadSignature, err)
		}
		return Checkpoint{}, fmt.Errorf("open checkpoint: %w", err)
	}
	cp, err := ParseCheckpointBody([]byte(n.Text))
	if err != nil {
		return Checkpoint{}, err
	}
	if cp.Origin != origin {
		return Checkpoint{}, fmt.Errorf("checkpoint is of log %q, want %q", cp.Origin, origin)
	}
	return cp, nil
}

// ParseCheckpointBody parses checkpoint note text without checking any signature. The
// verifier uses it to say which size a checkpoint with a bad signature claimed; never trust
// its result otherwise.
func ParseCheckpointBody(text []byte) (Checkpoint, error) {
	s := string(text)
	if !strings.HasSuffix(s, "\n") {
		return Checkpoint{}, errors.New("checkpoint body does not end in a newline")
	}
	lines := strings.Split(strings.TrimSuffix(s, "\n"), "\n")
	if len(lines) < 3 {
		return Checkpoint{}, fmt.Errorf("checkpoint body has %d lines, want at least 3", len(lines))
	}
	for _, ext := range lines[3:] {
		if ext == "" {
			return Checkpoint{}, errors.New("checkpoint body has an empty extension line")
		}
	}
	if err := checkOrigin(lines[0]); err != nil {
		return Checkpoint{}, err
	}
	size, err := strconv.ParseInt(lines[1], 10, 64)
	if err != nil || size < 0 || strconv.FormatInt(size, 10) != lines[1] {
		return Checkpoint{}, fmt.Errorf("checkpoint size %q is not a canonical decimal", lines[1])
	}
	root, err := base64.StdEncoding.Strict().DecodeString(lines[2])
	if err != nil || len(root) != HashSize || base64.StdEncoding.EncodeToString(root) != lines[2] {
		return Checkpoint{}, fmt.Errorf("checkpoint root %q is not the base64 of a %d-byte hash", lines[2], HashSize)
	}
	return Checkpoint{Origin: lines[0], Size: size, Root: root}, nil
}

func checkOrigin(origin string) error {
	if origin == "" || strings.ContainsAny(origin, "\n") {
		return fmt.Errorf("checkpoint origin %q is empty or has a newline", origin)
	}
	return nil
}
