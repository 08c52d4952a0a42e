package h2c

import (
	"bytes"
	"fmt"
	"net"
	"strconv"
	"strings"
)

// The HTTP/1.1 server of net/http answers a request it cannot read (its
// header over the limit, a malformed request line, an unknown transfer
// coding) itself, before any handler, in plain text:
//
//	HTTP/1.1 431 Request Header Fields Too Large\r\n
//	Content-Type: text/plain; charset=utf-8\r\n
//	Connection: close\r\n
//	\r\n
//	431 Request Header Fields Too Large
//
// written to the connection in one Write, without a Date header, which
// every answer of a handler has. answerConn turns those into the JSON
// error every API of Herald answers with.

// plainHeaders follow the status line of net/http's own answers.
const plainHeaders = "Content-Type: text/plain; charset=utf-8\r\nConnection: close\r\n\r\n"

// answering returns ln whose connections answer in JSON what net/http
// answers in plain text.
func answering(ln net.Listener) net.Listener { return &answerListener{ln} }

type answerListener struct{ net.Listener }

func (ln *answerListener) Accept() (net.Conn, error) {
	c, err := ln.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return &answerConn{c}, nil
}

type answerConn struct{ net.Conn }

func (c *answerConn) Write(b []byte) (int, error) {
	if j, ok := jsonAnswer(b); ok {
		if _, err := c.Conn.Write(j); err != nil {
			return 0, err
		}
		return len(b), nil
	}
	return c.Conn.Write(b)
}

// CloseWrite shuts down the writing side, as the HTTP server does before
// closing a connection it answered with an error.
func (c *answerConn) CloseWrite() error {
	if cw, ok := c.Conn.(interface{ CloseWrite() error }); ok {
		return cw.CloseWrite()
	}
	return nil
}

// jsonAnswer returns the JSON version of b if b is one of net/http's own
// plain-text answers.
func jsonAnswer(b []byte) ([]byte, bool) {
	const proto = "HTTP/1.1 "
	if len(b) > 1024 || !bytes.HasPrefix(b, []byte(proto)) {
		return nil, false
	}
	eol := bytes.Index(b, []byte("\r\n"))
	if eol < len(proto)+4 || !bytes.HasPrefix(b[eol+2:], []byte(plainHeaders)) {
		return nil, false
	}
	statusLine := string(b[len(proto):eol])
	status, err := strconv.Atoi(statusLine[:3])
	if err != nil {
		return nil, false
	}
	text := strings.TrimSpace(string(b[eol+2+len(plainHeaders):]))
	code, message := "bad_request", "the request could not be read: "+text
	switch status {
	case 431:
		code, message = "headers_too_large", fmt.Sprintf("the request line and header fields are over %d bytes; at most %d are accepted", hardHeaderBytes, MaxHeaderBytes)
	case 501:
		code, message = "not_implemented", "the request could not be read: "+text
	}
	body := errorBody(code, message)
	return fmt.Appendf(nil, "%s%s\r\nContent-Type: application/json; charset=utf-8\r\nConnection: close\r\nContent-Length: %d\r\n\r\n%s",
		proto, statusLine, len(body), body), true
}
