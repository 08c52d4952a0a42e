//go:build race

package protocol

// raceEnabled is true under the race detector, which makes handshakes much
// slower; long tests shrink their loops.
const raceEnabled = true
