package aerospike

import (
	"context"
	"errors"
	"fmt"

	as "github.com/aerospike/aerospike-client-go/v7"
	"github.com/aerospike/aerospike-client-go/v7/types"

	"github.com/heraldpush/herald/dataservice"
)

// sentinelFor returns the dataservice sentinel error of an Aerospike
// result code.
//
//	KEY_NOT_FOUND_ERROR                       ErrNotFound
//	GENERATION_ERROR                          ErrGenerationMismatch
//	KEY_EXISTS_ERROR                          ErrExists
//	PARAMETER_ERROR, RECORD_TOO_BIG,
//	BIN_TYPE_ERROR, BIN_NAME_TOO_LONG,
//	OP_NOT_APPLICABLE, SERIALIZE_ERROR        ErrInvalid
//	anything else (timeouts, network errors,
//	overload, security, server errors)        ErrUnavailable
//
// ErrInvalid is for requests the server refuses whatever its state (most
// are caught by validation before they are sent); ErrUnavailable for
// failures a later attempt, or an operator, may cure.
func sentinelFor(code types.ResultCode) error {
	switch code {
	case types.KEY_NOT_FOUND_ERROR:
		return dataservice.ErrNotFound
	case types.GENERATION_ERROR:
		return dataservice.ErrGenerationMismatch
	case types.KEY_EXISTS_ERROR:
		return dataservice.ErrExists
	case types.PARAMETER_ERROR, types.RECORD_TOO_BIG, types.BIN_TYPE_ERROR,
		types.BIN_NAME_TOO_LONG, types.OP_NOT_APPLICABLE, types.SERIALIZE_ERROR:
		return dataservice.ErrInvalid
	default:
		return dataservice.ErrUnavailable
	}
}

// hints explain the result codes that usually mean a misconfigured server.
var hints = map[types.ResultCode]string{
	types.FAIL_FORBIDDEN: "the namespace refuses the write: records with a TTL need nsup-period > 0 " +
		"(or allow-ttl-without-nsup), and a set being truncated refuses writes",
	types.INVALID_NAMESPACE: "the namespace is not configured on the server",
	types.RECORD_TOO_BIG:    "the record exceeds the namespace's max-record-size (or write-block-size before server 7)",
	types.INDEX_NOTFOUND:    "the secondary index of the group bin is missing",
	types.INDEX_NOTREADABLE: "the secondary index of the group bin is still being built",
	types.ROLE_VIOLATION:    "the user lacks a privilege: read-write on the namespace, sindex-admin to create indexes",
}

// resultCode returns the result code of an Aerospike error, or
// COMMON_ERROR for an error of another kind.
func resultCode(err error) types.ResultCode {
	var ae *as.AerospikeError
	if errors.As(err, &ae) {
		return ae.ResultCode
	}
	return types.COMMON_ERROR
}

// translate wraps err, an error of the Aerospike client, with the sentinel
// of its result code and the operation's context. If ctx has ended, the
// error also wraps ctx.Err(): the call failed because its time ran out.
func translate(ctx context.Context, what string, err error) error {
	code := resultCode(err)
	sentinel := sentinelFor(code)
	msg := "dataservice/aerospike: " + what
	if h, ok := hints[code]; ok {
		msg += " (" + h + ")"
	}
	if cerr := ctx.Err(); cerr != nil && sentinel == dataservice.ErrUnavailable {
		return fmt.Errorf("%s: %w: %w: %w", msg, cerr, sentinel, err)
	}
	return fmt.Errorf("%s: %w: %w", msg, sentinel, err)
}

// codeError builds the error of a batch record that failed with code but
// carries no error of its own.
func codeError(code types.ResultCode) error {
	return &as.AerospikeError{ResultCode: code}
}
