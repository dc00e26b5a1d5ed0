// Package godoc holds no code: its test checks that every exported name of
// the module's packages has a doc comment, as the project's standards ask
// (godoc on every exported name), so that a name added without one fails
// the tests rather than a review.
package godoc
