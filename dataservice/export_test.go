package dataservice

import "time"

// SetClock replaces the clock of s, for tests.
func (s *Service) SetClock(now func() time.Time) { s.now = now }

// EncodeAttrs and DecodeAttrs expose the attributes record format.
var (
	EncodeAttrs = encodeAttrs
	DecodeAttrs = decodeAttrs
)
