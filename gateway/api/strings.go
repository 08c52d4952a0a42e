package api

import (
	"bytes"
	"encoding/json"
	"strconv"
	"unicode/utf8"
)

// encoding/json decodes a string that is not valid UTF-8, or that holds
// an unpaired UTF-16 surrogate escape (\ud800), into U+FFFD replacement
// characters without a word, and takes \u0000 as any character: a title
// would be stored other than sent, or cut short by the first C program
// that reads it. The API refuses both, naming the field.

// InvalidString finds the first string of the JSON document b, keys
// included, that is not valid UTF-8, holds a NUL character, or holds an
// unpaired surrogate escape. It returns where it is, as a path such as
// "message.title" or "audience.tag[2]", and what is wrong with it. It
// reports nothing for a document that is not valid JSON: the decoder
// says what is wrong with that.
func InvalidString(b []byte) (path, problem string, found bool) {
	if utf8.Valid(b) && !bytes.Contains(b, []byte(`\u`)) {
		return "", "", false // nearly every body: nothing more to look at
	}
	if !json.Valid(b) {
		return "", "", false
	}
	s := stringScanner{b: b}
	s.value()
	if s.problem == "" {
		return "", "", false
	}
	return s.where, s.problem, true
}

// stringScanner walks a JSON document, known to be valid JSON apart from
// the encoding of its strings, looking for a bad string.
type stringScanner struct {
	b       []byte
	i       int
	path    []string // the keys and [indexes] leading to the value at i
	where   string   // of the bad string found
	problem string
}

// at is the byte at i, 0 past the end.
func (s *stringScanner) at(i int) byte {
	if i < len(s.b) {
		return s.b[i]
	}
	return 0
}

func (s *stringScanner) ws() {
	for c := s.at(s.i); c == ' ' || c == '\t' || c == '\n' || c == '\r'; c = s.at(s.i) {
		s.i++
	}
}

// value scans one value; false once a bad string was found (or the
// document ended early).
func (s *stringScanner) value() bool {
	s.ws()
	switch s.at(s.i) {
	case 0:
		return false
	case '{':
		return s.list('}', func(int) bool {
			key, ok := s.str(" (a key)")
			if !ok {
				return false
			}
			s.ws()
			s.i++ // ':'
			s.path = append(s.path, key)
			return s.value()
		})
	case '[':
		return s.list(']', func(n int) bool {
			s.path = append(s.path, "["+strconv.Itoa(n)+"]")
			return s.value()
		})
	case '"':
		_, ok := s.str("")
		return ok
	}
	// A number, true, false or null.
	for c := s.at(s.i); c != 0 && bytes.IndexByte([]byte(",]} \t\r\n"), c) < 0; c = s.at(s.i) {
		s.i++
	}
	return true
}

// list scans the members of an object or an array, the opening bracket
// at i, calling member for each; member pushes one element on path.
func (s *stringScanner) list(end byte, member func(n int) bool) bool {
	s.i++
	s.ws()
	if s.at(s.i) == end {
		s.i++
		return true
	}
	for n := 0; ; n++ {
		s.ws()
		if !member(n) {
			return false
		}
		s.path = s.path[:len(s.path)-1]
		s.ws()
		switch s.at(s.i) {
		case end:
			s.i++
			return true
		case ',':
			s.i++
		default:
			return false
		}
	}
}

// str scans a string and returns its text (for a key's place in paths);
// false if it is bad, with where and problem set (suffix added to where).
func (s *stringScanner) str(suffix string) (string, bool) {
	s.i++ // '"'
	start := s.i
	escaped := false
	bad := ""
	for c := s.at(s.i); c != '"'; c = s.at(s.i) {
		switch {
		case c == 0 && s.i >= len(s.b):
			return "", false
		case c == '\\':
			escaped = true
			if s.at(s.i+1) != 'u' {
				s.i += 2
				continue
			}
			r := s.hex4(s.i + 2)
			s.i += 6
			switch {
			case r == 0:
				bad = orFirst(bad, `holds a NUL character (\u0000)`)
			case r >= 0xd800 && r < 0xdc00: // must be followed by a low surrogate
				if s.at(s.i) == '\\' && s.at(s.i+1) == 'u' {
					if lo := s.hex4(s.i + 2); lo >= 0xdc00 && lo < 0xe000 {
						s.i += 6
						continue
					}
				}
				bad = orFirst(bad, "holds an unpaired UTF-16 surrogate escape")
			case r >= 0xdc00 && r < 0xe000:
				bad = orFirst(bad, "holds an unpaired UTF-16 surrogate escape")
			}
		case c < utf8.RuneSelf:
			s.i++
		default:
			r, n := utf8.DecodeRune(s.b[s.i:])
			if r == utf8.RuneError && n <= 1 {
				bad = orFirst(bad, "is not valid UTF-8")
			}
			s.i += n
		}
	}
	raw := s.b[start:s.i]
	s.i++
	text := string(raw)
	if escaped {
		_ = json.Unmarshal(s.b[start-1:s.i], &text)
	}
	if bad == "" {
		return text, true
	}
	s.where, s.problem = s.pathString(), bad
	if suffix != "" { // a key: say which, under the object holding it
		s.where = strconv.Quote(text) + suffix
		if len(s.path) > 0 {
			s.where = s.pathString() + "." + s.where
		}
	}
	return text, false
}

func orFirst(bad, problem string) string {
	if bad != "" {
		return bad
	}
	return problem
}

// pathString joins the path as "a.b[2].c"; "the body" for the document
// itself.
func (s *stringScanner) pathString() string {
	if len(s.path) == 0 {
		return "the body"
	}
	var b []byte
	for i, p := range s.path {
		if i > 0 && p[0] != '[' {
			b = append(b, '.')
		}
		b = append(b, p...)
	}
	return string(b)
}

// hex4 reads the four hexadecimal digits at i; -1 if they are not.
func (s *stringScanner) hex4(i int) rune {
	if i+4 > len(s.b) {
		return -1
	}
	n, err := strconv.ParseUint(string(s.b[i:i+4]), 16, 32)
	if err != nil {
		return -1
	}
	return rune(n)
}
