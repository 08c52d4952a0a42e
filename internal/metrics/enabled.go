//go:build !nometrics

package metrics

// Enabled reports whether observations are recorded: false in a build
// with the tag nometrics.
const Enabled = true
