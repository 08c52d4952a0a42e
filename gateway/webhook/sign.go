package webhook

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"strconv"
)

// secretLen is the length of the signing secrets Herald makes.
const secretLen = 32

// secretAlphabet is what signing secrets are made of: letters and digits,
// safe in any header, config file or shell.
const secretAlphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"

// NewSecret returns a new signing secret: secretLen random letters and digits,
// each uniformly chosen (bytes of 248 and above are drawn again: 248 is
// the largest multiple of 62 below 256).
func NewSecret() string {
	out := make([]byte, 0, secretLen)
	buf := make([]byte, 2*secretLen)
	for len(out) < secretLen {
		_, _ = rand.Read(buf) // crypto/rand does not fail on supported systems
		for _, b := range buf {
			if b < 248 && len(out) < secretLen {
				out = append(out, secretAlphabet[int(b)%len(secretAlphabet)])
			}
		}
	}
	return string(out)
}

// Headers of a webhook delivery (docs/webhooks.md).
const (
	TimestampHeader = "X-Herald-Timestamp"
	SignatureHeader = "X-Herald-Signature"
)

// Sign returns the X-Herald-Signature value of a delivery: "v1="
// and the hex HMAC-SHA256, keyed with the secret, of the timestamp, a
// dot, and the body.
func Sign(secret string, timestamp int64, body []byte) string {
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write(strconv.AppendInt(nil, timestamp, 10))
	mac.Write([]byte{'.'})
	mac.Write(body)
	return "v1=" + hex.EncodeToString(mac.Sum(nil))
}
