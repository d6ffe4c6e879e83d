package postgres

import (
	"context"
	"net"
	"sync/atomic"

	"github.com/jackc/pgx/v5/pgxpool"
)

// OpenCountingWrites opens a DB whose connections add each network write to *writes. A
// client writes once per round trip (then waits for the answer), so the count is the
// number of round trips, independent of how busy the machine is.
func OpenCountingWrites(ctx context.Context, dsn string, opts Options, writes *atomic.Int64) (*DB, error) {
	return open(ctx, dsn, opts, func(cfg *pgxpool.Config) {
		dial := cfg.ConnConfig.DialFunc
		cfg.ConnConfig.DialFunc = func(ctx context.Context, network, addr string) (net.Conn, error) {
			c, err := dial(ctx, network, addr)
			if err != nil {
				return nil, err
			}
			return countingConn{Conn: c, writes: writes}, nil
		}
	})
}

type countingConn struct {
	net.Conn
	writes *atomic.Int64
}

func (c countingConn) Write(b []byte) (int, error) {
	c.writes.Add(1)
	return c.Conn.Write(b)
}
