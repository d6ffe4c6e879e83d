package postgres

import (
	"errors"
	"fmt"
	"io"
	"syscall"
	"testing"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/scimtrail/scimtrail"
)

// TestUnavailable: what says "the database cannot work right now" is 503; what says the
// request or the data was wrong is not.
func TestUnavailable(t *testing.T) {
	for name, tc := range map[string]struct {
		err  error
		want bool
	}{
		"AdminShutdown":     {&pgconn.PgError{Code: "57P01"}, true},
		"CrashShutdown":     {&pgconn.PgError{Code: "57P02"}, true},
		"StartingUp":        {&pgconn.PgError{Code: "57P03"}, true},
		"ConnectionFailure": {&pgconn.PgError{Code: "08006"}, true},
		"DiskFull":          {&pgconn.PgError{Code: "53100"}, true},
		"Refused":           {fmt.Errorf("postgres: begin: %w", syscall.ECONNREFUSED), true},
		"LostMidQuery":      {fmt.Errorf("postgres: commit: %w", io.ErrUnexpectedEOF), true},
		"ConnClosed":        {pgconn.ErrConnClosed, true},
		"UniqueViolation":   {&pgconn.PgError{Code: "23505"}, false},
		"SyntaxError":       {&pgconn.PgError{Code: "42601"}, false},
		"QueryCanceled":     {&pgconn.PgError{Code: "57014"}, false},
		"NotFound":          {scimtrail.Errorf(scimtrail.ENOTFOUND, "no such user"), false},
		"Other":             {errors.New("boom"), false},
	} {
		t.Run(name, func(t *testing.T) {
			err := unavailable(tc.err)
			if got := errors.Is(err, scimtrail.ErrUnavailable); got != tc.want {
				t.Errorf("unavailable(%v) is ErrUnavailable: %v, want %v", tc.err, got, tc.want)
			}
			if !errors.Is(err, tc.err) {
				t.Errorf("the cause %v is lost", tc.err)
			}
		})
	}
}
