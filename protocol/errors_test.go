package protocol

import (
	"errors"
	"fmt"
	"io"
	"testing"
	"time"
)

func TestCode(t *testing.T) {
	tests := []struct {
		code      Code
		name      string
		reconnect bool
	}{
		{CodeMalformedFrame, "malformed_frame", true},
		{CodeFrameTooLarge, "frame_too_large", true},
		{CodeUnexpectedFrame, "unexpected_frame", true},
		{CodeUnsupportedVersion, "unsupported_version", true},
		{CodeHandshakeFailed, "handshake_failed", true},
		{CodeHandshakeTimeout, "handshake_timeout", true},
		{CodeIdleTimeout, "idle_timeout", true},
		{CodeTooManyUpstreams, "too_many_upstreams", true},
		{CodeFlooding, "flooding", true},
		{CodeTooSlow, "too_slow", true},
		{CodeAuthFailed, "auth_failed", false},
		{CodeDeviceDisabled, "device_disabled", false},
		{CodeServerBusy, "server_busy", true},
		{CodeShuttingDown, "shutting_down", true},
		{CodeInternalError, "internal_error", true},
		{CodeReplaced, "replaced", false},
		// Unknown codes are classified by range.
		{1999, "code(1999)", true},
		{2000, "code(2000)", false},
		{2999, "code(2999)", false},
		{3500, "code(3500)", true},
		{4000, "code(4000)", false},
		{4999, "code(4999)", false},
		{5000, "code(5000)", true},
		{0, "code(0)", true},
		{999, "code(999)", true},
		{65535, "code(65535)", true},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprint(uint16(tt.code)), func(t *testing.T) {
			if got := tt.code.String(); got != tt.name {
				t.Errorf("String() = %q, want %q", got, tt.name)
			}
			if got := tt.code.Reconnect(); got != tt.reconnect {
				t.Errorf("Reconnect() = %v, want %v", got, tt.reconnect)
			}
		})
	}
}

func TestErrorString(t *testing.T) {
	tests := []struct {
		e    *Error
		want string
	}{
		{&Error{Code: CodeAuthFailed}, "protocol: 2001 auth_failed"},
		{&Error{Code: CodeServerBusy, Message: "full", RetryAfter: 5 * time.Second}, "protocol: 3001 server_busy: full (retry after 5s)"},
		{&Error{Code: 7777, Message: "new"}, "protocol: 7777 code(7777): new"},
	}
	for _, tt := range tests {
		t.Run(tt.want, func(t *testing.T) {
			if got := tt.e.Error(); got != tt.want {
				t.Fatalf("Error() = %q", got)
			}
		})
	}
}

func TestCodeOf(t *testing.T) {
	tests := []struct {
		name string
		err  error
		want Code
	}{
		{"*Error", &Error{Code: CodeReplaced}, CodeReplaced},
		{"wrapped *Error", fmt.Errorf("conn 7: %w", &Error{Code: CodeDeviceDisabled}), CodeDeviceDisabled},
		{"record too large", ErrRecordTooLarge, CodeFrameTooLarge},
		{"malformed", malformed("x"), CodeMalformedFrame},
		{"decrypt", ErrDecrypt, CodeMalformedFrame},
		{"handshake", fmt.Errorf("%w: x", ErrHandshake), CodeHandshakeFailed},
		{"other", io.ErrUnexpectedEOF, CodeInternalError},
		{"nonce", ErrNonceExhausted, CodeInternalError},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := CodeOf(tt.err); got != tt.want {
				t.Fatalf("CodeOf = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestSentinelPrefix(t *testing.T) {
	for _, err := range []error{ErrMalformed, ErrRecordTooLarge, ErrHandshake, ErrDecrypt, ErrNonceExhausted, ErrInvalidKey} {
		if s := err.Error(); len(s) < 10 || s[:10] != "protocol: " {
			t.Errorf("%q lacks the protocol: prefix", s)
		}
		if !errors.Is(fmt.Errorf("wrap: %w", err), err) {
			t.Errorf("%v does not survive wrapping", err)
		}
	}
}
