package main

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"io"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// shellWords splits a command line the way sh does for the quoting the banner uses: single
// quotes, double quotes and spaces.
func shellWords(tb testing.TB, line string) []string {
	tb.Helper()
	var words []string
	var cur strings.Builder
	inWord := false
	for i := 0; i < len(line); i++ {
		switch c := line[i]; c {
		case ' ':
			if inWord {
				words = append(words, cur.String())
				cur.Reset()
				inWord = false
			}
		case '\'', '"':
			j := strings.IndexByte(line[i+1:], c)
			if j < 0 {
				tb.Fatalf("unbalanced %c in %q", c, line)
			}
			cur.WriteString(line[i+1 : i+1+j])
			i += j + 1
			inWord = true
		default:
			cur.WriteByte(c)
			inWord = true
		}
	}
	if inWord {
		words = append(words, cur.String())
	}
	return words
}

// TestBannerCurl runs the ready-to-paste curl commands of the first-start banner, exactly as
// printed, and checks they do what they say: create a tenant, then issue a SCIM token.
func TestBannerCurl(t *testing.T) {
	s := startServer(t, env{}, backends()[0].newDSN(t))
	var curls []string
	for _, line := range strings.Split(s.stdout.String(), "\n") {
		if l := strings.TrimSpace(line); strings.HasPrefix(l, "curl ") {
			curls = append(curls, l)
		}
	}
	if len(curls) != 2 {
		t.Fatalf("banner has %d curl commands, want 2:\n%s", len(curls), s.stdout)
	}
	var last []byte
	for _, line := range curls {
		words := shellWords(t, line)
		header := http.Header{}
		var body string
		for i := 1; i < len(words)-1; i += 2 {
			switch words[i] {
			case "-H":
				k, v, _ := strings.Cut(words[i+1], ": ")
				header.Set(k, v)
			case "-d":
				body = words[i+1]
			default:
				t.Fatalf("unexpected curl argument %q in %q", words[i], line)
			}
		}
		// curl -d sends a POST and, unless told otherwise, labels the body as a form, which
		// the admin API refuses: the banner must say application/json.
		if header.Get("Content-Type") == "" {
			header.Set("Content-Type", "application/x-www-form-urlencoded")
		}
		req, err := http.NewRequest("POST", words[len(words)-1], strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		req.Header = header
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatalf("%s: %v", line, err)
		}
		b, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil {
			t.Fatal(err)
		}
		if resp.StatusCode != http.StatusCreated {
			t.Fatalf("%s\nstatus %d, want 201: %s", line, resp.StatusCode, b)
		}
		last = b
	}
	var tok issued
	if err := json.Unmarshal(last, &tok); err != nil || !strings.HasPrefix(tok.Token, "stk_scim_") || tok.Tenant != "acme" {
		t.Fatalf("second curl returned %s, want a SCIM token for acme", last)
	}
	client{tb: t, base: s.URL, token: tok.Token}.must(http.StatusOK, "GET", "/scim/v2/acme/Users", nil, nil)
}

// selfSigned writes a certificate and key for 127.0.0.1 and returns their paths and a pool
// that trusts the certificate.
func selfSigned(tb testing.TB) (certFile, keyFile string, pool *x509.CertPool) {
	tb.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		tb.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "scimtrail test"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		IPAddresses:  []net.IP{net.ParseIP("127.0.0.1")},
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		tb.Fatal(err)
	}
	kder, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		tb.Fatal(err)
	}
	dir := tb.TempDir()
	certFile, keyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		tb.Fatal(err)
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder}), 0o600); err != nil {
		tb.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	pool = x509.NewCertPool()
	pool.AddCert(cert)
	return certFile, keyFile, pool
}

// TestTLS serves HTTPS with the certificate from the environment and refuses TLS 1.1. (Go's
// server default is already TLS 1.2; serve sets it explicitly so that it stays so.)
func TestTLS(t *testing.T) {
	certFile, keyFile, pool := selfSigned(t)
	preset := randomToken()
	s := startServer(t, env{"SCIMTRAIL_TLS_CERT": certFile, "SCIMTRAIL_TLS_KEY": keyFile, "SCIMTRAIL_BOOTSTRAP_TOKEN": preset},
		backends()[0].newDSN(t))
	if !strings.HasPrefix(s.URL, "https://127.0.0.1:") {
		t.Fatalf("URL %q, want https", s.URL)
	}
	hc := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	client{tb: t, base: s.URL, token: preset, hc: hc}.must(http.StatusOK, "GET", "/api/v1/tenants", nil, nil)

	old := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, MaxVersion: tls.VersionTLS11}}}
	if resp, err := old.Get(s.URL + "/healthz"); err == nil {
		resp.Body.Close()
		t.Fatalf("a TLS 1.1 client was served (status %d); the minimum is TLS 1.2", resp.StatusCode)
	}
}

// TestDemo: --demo creates the demo tenant and prints a working SCIM token once.
func TestDemo(t *testing.T) {
	dsn := backends()[0].newDSN(t)
	e := env{"SCIMTRAIL_BOOTSTRAP_TOKEN": randomToken()}
	s := startServer(t, e, dsn, "--demo")
	out := s.stdout.String()
	i := strings.Index(out, "SCIM token:")
	if i < 0 || !strings.Contains(out, s.URL+"/scim/v2/demo") {
		t.Fatalf("--demo did not print the demo tenant's URL and token:\n%s", out)
	}
	tok := strings.Fields(out[i+len("SCIM token:"):])[0]
	client{tb: t, base: s.URL, token: tok}.must(http.StatusCreated, "POST", "/scim/v2/demo/Users", oktaUser("demo@example.com", "Demo", "User"), nil)
	if err := s.stop(); err != nil {
		t.Fatal(err)
	}
	s = startServer(t, e, dsn, "--demo")
	if out := s.stdout.String(); strings.Contains(out, "SCIM token:") {
		t.Errorf("second --demo start issued another token:\n%s", out)
	}
}
