package middleware

import (
	"log/slog"
	"net/http"
	"runtime/debug"

	"github.com/sluicehq/sluice/internal/problem"
)

// Recover returns middleware that turns a handler's panic into a 500 problem
// answer and an error log line with the stack, instead of a dropped
// connection. http.ErrAbortHandler is passed on: it is a deliberate abort.
func Recover(logger *slog.Logger) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			defer func() {
				p := recover()
				if p == nil {
					return
				}
				if p == http.ErrAbortHandler {
					panic(p)
				}
				if logger != nil {
					logger.Error("handler panicked", slog.Any("panic", p), slog.String("stack", string(debug.Stack())))
				}
				problem.Write(w, http.StatusInternalServerError, problem.TypeInternal, "Internal error", "")
			}()
			next.ServeHTTP(w, r)
		})
	}
}
