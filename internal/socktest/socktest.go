// Package socktest holds what tests need to see of a socket that its
// net.Conn does not show. It is for tests only.
package socktest
