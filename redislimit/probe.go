package redislimit

import (
	"context"
	"time"
)

// probe runs while the breaker is open: every cooldown it asks Redis for a
// PING and loads the script, with the cooldown as its own timeout (a probe
// is not a request: it may wait longer than a decision may), and closes the
// breaker on the first success, which also leaves a connection in the
// pool for the next decision. It ends when the Store is closed.
func (s *Store) probe() {
	t := time.NewTimer(s.cooldown)
	defer t.Stop()
	for {
		select {
		case <-s.closed:
			return
		case <-t.C:
		}
		ctx, cancel := context.WithTimeout(context.Background(), s.cooldown)
		err := s.Warm(ctx)
		cancel()
		if err == nil {
			s.breaker.close()
			return
		}
		t.Reset(s.cooldown)
	}
}
