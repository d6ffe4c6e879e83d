package scimtrail_test

import (
	"errors"
	"fmt"
	"io"
	"testing"

	"github.com/scimtrail/scimtrail"
)

func TestUnavailable(t *testing.T) {
	cause := &scimtrail.Error{Code: scimtrail.EINTERNAL, Message: "database error while reading", Err: io.ErrUnexpectedEOF}
	for name, tc := range map[string]struct {
		err                 error
		code, msg, scimType string
	}{
		"Wrapped":            {scimtrail.Unavailable(cause), scimtrail.EUNAVAILABLE, "the store is unavailable; retry later", ""},
		"WrappedAgainAbove":  {fmt.Errorf("create user: %w", scimtrail.Unavailable(cause)), scimtrail.EUNAVAILABLE, "the store is unavailable; retry later", ""},
		"InsideInternal":     {&scimtrail.Error{Code: scimtrail.EINTERNAL, Message: "x", Err: scimtrail.Unavailable(cause)}, scimtrail.EUNAVAILABLE, "the store is unavailable; retry later", ""},
		"DomainDecisionKept": {scimtrail.Unavailable(scimtrail.ScimErrorf(scimtrail.ECONFLICT, scimtrail.ScimUniqueness, "taken")), scimtrail.ECONFLICT, "taken", scimtrail.ScimUniqueness},
		"Plain":              {cause, scimtrail.EINTERNAL, "database error while reading", ""},
	} {
		t.Run(name, func(t *testing.T) {
			if got := scimtrail.ErrorCode(tc.err); got != tc.code {
				t.Errorf("ErrorCode = %q, want %q", got, tc.code)
			}
			if got := scimtrail.ErrorMessage(tc.err); got != tc.msg {
				t.Errorf("ErrorMessage = %q, want %q", got, tc.msg)
			}
			if got := scimtrail.ErrorScimType(tc.err); got != tc.scimType {
				t.Errorf("ErrorScimType = %q, want %q", got, tc.scimType)
			}
			if want := tc.code == scimtrail.EUNAVAILABLE; errors.Is(tc.err, scimtrail.ErrUnavailable) != want {
				t.Errorf("errors.Is(ErrUnavailable) = %v, want %v", !want, want)
			}
			if tc.code == scimtrail.EUNAVAILABLE && !errors.Is(tc.err, io.ErrUnexpectedEOF) {
				t.Error("the cause is lost from the chain")
			}
		})
	}
}
