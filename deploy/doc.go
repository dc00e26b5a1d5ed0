// Package deploy holds no code: its tests check what ships the gateway.
// No container engine runs where the tests run, so the Dockerfile at the
// repository's root is parsed and held to the rules a linter such as
// hadolint would check (bases pinned by digest, a non-root user, exec-form
// commands, a health check, COPY rather than ADD), and the gateway is built
// with the Dockerfile's own build command and checked to be static, to
// listen where the image says and to answer its health check. The compose
// example and its gateway configuration live in compose/.
package deploy
