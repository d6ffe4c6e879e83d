package httpapi

import (
	"math"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/scimtrail/scimtrail"
)

// tenantLimiter is a token bucket per tenant: each tenant may make burst requests at once
// and rate requests a second after that. Buckets are per tenant, never shared, so one
// tenant's flood (an IdP in a retry loop, a runaway script) spends only its own bucket and
// cannot throttle another tenant.
//
// The key is the tenant of the authenticated token, not the one named in the path: a
// client with no valid token, or with another tenant's, must not be able to spend a
// victim's bucket by naming the victim in the URL. Operator tokens, which span tenants,
// share one bucket of their own.
type tenantLimiter struct {
	rate  float64 // tokens added per second
	burst float64 // bucket capacity
	now   func() time.Time

	mu      sync.Mutex
	buckets map[string]*bucket
}

type bucket struct {
	tokens float64
	last   time.Time
}

// maxBuckets bounds the limiter's memory. Keys are authenticated tenants, so the map only
// grows with the number of tenants; past the bound, full buckets (idle tenants) are dropped,
// which forgets nothing a fresh bucket would not also allow.
const maxBuckets = 100_000

func newTenantLimiter(rate float64, burst int, now func() time.Time) *tenantLimiter {
	if rate <= 0 {
		return nil
	}
	b := float64(burst)
	if b < 1 {
		b = math.Max(1, math.Ceil(2*rate))
	}
	if now == nil {
		now = time.Now
	}
	return &tenantLimiter{rate: rate, burst: b, now: now, buckets: map[string]*bucket{}}
}

// allow takes a token from key's bucket. When the bucket is empty it returns false and how
// long until a token will be available.
func (l *tenantLimiter) allow(key string) (bool, time.Duration) {
	if l == nil {
		return true, 0
	}
	now := l.now()
	l.mu.Lock()
	defer l.mu.Unlock()
	b, ok := l.buckets[key]
	if !ok {
		if len(l.buckets) >= maxBuckets {
			l.prune(now)
		}
		b = &bucket{tokens: l.burst, last: now}
		l.buckets[key] = b
	}
	if elapsed := now.Sub(b.last).Seconds(); elapsed > 0 {
		b.tokens = math.Min(l.burst, b.tokens+elapsed*l.rate)
		b.last = now
	}
	if b.tokens >= 1 {
		b.tokens--
		return true, 0
	}
	wait := time.Duration((1 - b.tokens) / l.rate * float64(time.Second))
	return false, wait
}

// prune drops the buckets that have refilled completely; called with mu held.
func (l *tenantLimiter) prune(now time.Time) {
	for k, b := range l.buckets {
		if b.tokens+now.Sub(b.last).Seconds()*l.rate >= l.burst {
			delete(l.buckets, k)
		}
	}
}

// limitKey is the bucket a token's requests spend.
func limitKey(tok scimtrail.Token) string {
	if tok.Kind == scimtrail.TokenOperator {
		// Not a valid tenant id, so it cannot collide with one.
		return "*operator"
	}
	return tok.Tenant
}

// rateLimited answers whether tok's tenant is over its rate; if so it has set Retry-After
// (whole seconds, at least 1, RFC 9110 §10.2.3) and returns the error to write, a 429 with
// the surface's error body.
func (h *handler) rateLimited(w http.ResponseWriter, tok scimtrail.Token) error {
	ok, wait := h.limiter.allow(limitKey(tok))
	if ok {
		return nil
	}
	secs := int64(math.Ceil(wait.Seconds()))
	if secs < 1 {
		secs = 1
	}
	w.Header().Set("Retry-After", strconv.FormatInt(secs, 10))
	return scimtrail.Errorf(scimtrail.ETOOMANY, "too many requests for this tenant; retry after %d seconds", secs)
}
