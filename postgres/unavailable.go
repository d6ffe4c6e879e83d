package postgres

import (
	"errors"
	"io"
	"net"
	"strings"
	"syscall"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/scimtrail/scimtrail"
)

// unavailable marks err as scimtrail.ErrUnavailable when it says the database cannot be
// reached or cannot work right now — no connection, a connection lost mid-transaction, a
// server shutting down, starting up or in crash recovery, a full disk — rather than that the
// request was wrong. The client is told to retry (503). Other errors are returned unchanged.
func unavailable(err error) error {
	if err == nil || errors.Is(err, scimtrail.ErrUnavailable) {
		return err
	}
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		switch {
		case strings.HasPrefix(pgErr.Code, "08"): // connection exception
		case pgErr.Code == "57P01", pgErr.Code == "57P02", pgErr.Code == "57P03": // admin/crash shutdown, cannot connect now
		case pgErr.Code == "53100", pgErr.Code == "53300": // disk full, too many connections
		case pgErr.Code == "58030": // I/O error
		default:
			return err
		}
		return scimtrail.Unavailable(err)
	}
	var connectErr *pgconn.ConnectError
	var netErr net.Error
	if errors.As(err, &connectErr) || errors.As(err, &netErr) ||
		errors.Is(err, pgconn.ErrConnClosed) || errors.Is(err, net.ErrClosed) ||
		errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE) {
		return scimtrail.Unavailable(err)
	}
	return err
}
