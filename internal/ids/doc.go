// Package ids generates Herald's identifiers: 64-bit time-ordered message ids
// that are unique across nodes, and random credentials (app keys, master
// secrets, registration ids, device secrets).
//
// A Generator is safe for concurrent use. The random helpers read
// crypto/rand and are safe for concurrent use.
package ids
