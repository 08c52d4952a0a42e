//go:build !race

package leveldb

// raceDetector says whether the tests run under the race detector.
const raceDetector = false
