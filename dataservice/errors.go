package dataservice

import "errors"

// Sentinel errors. Backends and the domain layer wrap them with context;
// callers test with errors.Is. The gateway maps them to HTTP statuses in one
// table.
var (
	ErrNotFound           = errors.New("dataservice: not found")
	ErrExists             = errors.New("dataservice: already exists")
	ErrGenerationMismatch = errors.New("dataservice: generation mismatch")
	ErrInvalid            = errors.New("dataservice: invalid argument")
	ErrClosed             = errors.New("dataservice: store closed")
	ErrUnavailable        = errors.New("dataservice: unavailable")
)
