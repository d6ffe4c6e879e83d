package webhook_test

import (
	"net/http"
	"testing"
	"time"

	"github.com/scimtrail/scimtrail/export/webhook"
)

// The test vector of the Standard Webhooks specification's reference libraries.
const (
	vectorSecret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
	vectorID     = "msg_p5jXN8AQM9LWM0D4loKWxJek"
	vectorTS     = 1614265330
	vectorBody   = `{"test": 2432232314}`
	vectorSig    = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
)

func TestSignMatchesSpecVector(t *testing.T) {
	got, err := webhook.Sign([]string{vectorSecret}, vectorID, time.Unix(vectorTS, 0), []byte(vectorBody))
	if err != nil {
		t.Fatal(err)
	}
	if got != vectorSig {
		t.Fatalf("Sign = %q, want %q", got, vectorSig)
	}
}

func TestVerify(t *testing.T) {
	other := "whsec_" + "c2Vjb25kLXNlY3JldC1mb3Itcm90YXRpb24tdGVzdHM="
	ts := time.Unix(vectorTS, 0)
	h := http.Header{}
	if err := webhook.SetHeaders(h, []string{other, vectorSecret}, vectorID, ts, []byte(vectorBody)); err != nil {
		t.Fatal(err)
	}
	if err := webhook.Verify(vectorSecret, h, []byte(vectorBody), ts.Add(time.Minute)); err != nil {
		t.Errorf("rotation: second signature must verify: %v", err)
	}
	if err := webhook.Verify(other, h, []byte(vectorBody), ts); err != nil {
		t.Errorf("rotation: first signature must verify: %v", err)
	}
	if err := webhook.Verify(vectorSecret, h, []byte(vectorBody+" "), ts); err == nil {
		t.Error("a tampered body verified")
	}
	if err := webhook.Verify(vectorSecret, h, []byte(vectorBody), ts.Add(6*time.Minute)); err == nil {
		t.Error("a replay outside the window verified")
	}
	if err := webhook.Verify("whsec_"+"d3Jvbmctc2VjcmV0LXdyb25nLXNlY3JldC0xMjM0NTY=", h, []byte(vectorBody), ts); err == nil {
		t.Error("a wrong secret verified")
	}
	h.Del(webhook.HeaderID)
	if err := webhook.Verify(vectorSecret, h, []byte(vectorBody), ts); err == nil {
		t.Error("missing webhook-id verified")
	}
}
