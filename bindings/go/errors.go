package dremioorch

import (
	"errors"
	"fmt"
)

// Code is the error code of the C API (DorchCode). Every error this package
// returns for a failed library call is an *Error carrying one.
type Code int

// The codes of the C API, with the values of the C enum DorchCode.
const (
	CodeOK Code = iota
	CodeInvalidArgument
	CodeNotFound
	CodeDuplicate
	CodeCycle
	CodeConfig
	CodeBackend
	CodeTaskFailed
	CodePanic
	// CodeCancelled: the run was stopped because its context was cancelled
	// (Pipeline.RunContext); the result is still returned.
	CodeCancelled
	// CodeTimeout: the run was stopped because its context's deadline
	// passed; the result is still returned.
	CodeTimeout
	// CodeUnsupported: the backend does not keep what was asked for (task
	// details of a Store that is not a DetailStore; recovery, purge, stored
	// outputs and resume of a Store that is not a DurableStore).
	CodeUnsupported
)

var codeNames = [...]string{
	CodeOK:              "ok",
	CodeInvalidArgument: "invalid argument",
	CodeNotFound:        "not found",
	CodeDuplicate:       "duplicate",
	CodeCycle:           "cycle",
	CodeConfig:          "configuration error",
	CodeBackend:         "backend error",
	CodeTaskFailed:      "task failed",
	CodePanic:           "panic",
	CodeCancelled:       "cancelled",
	CodeTimeout:         "timed out",
	CodeUnsupported:     "unsupported",
}

func (c Code) String() string {
	if c >= 0 && int(c) < len(codeNames) {
		return codeNames[c]
	}
	return fmt.Sprintf("code %d", int(c))
}

// Error is a failure reported by the library, or by this package on its
// behalf: a typed Code, the operation that failed and a human message.
//
// Match a kind of failure with errors.Is against the sentinels (ErrCycle,
// ErrNotFound, ...), or read the code with errors.As:
//
//	var e *dremioorch.Error
//	if errors.As(err, &e) && e.Code == dremioorch.CodeBackend { ... }
type Error struct {
	Code    Code
	Op      string // the Go method that failed, e.g. "Pipeline.AddDependency"
	Message string // the library's message (dorch_last_error), if any

	// cause is what stopped a run (the context's error), returned by Unwrap.
	cause error
}

// Unwrap returns the context error that stopped a run (context.Canceled or
// context.DeadlineExceeded), so that errors.Is matches it; nil otherwise.
func (e *Error) Unwrap() error { return e.cause }

func (e *Error) Error() string {
	s := "dremioorch"
	if e.Op != "" {
		s += ": " + e.Op
	}
	if e.Message != "" {
		return s + ": " + e.Message
	}
	return s + ": " + e.Code.String()
}

// Is reports whether target is an *Error of the same code with no message of
// its own (the sentinels), or an identical *Error.
func (e *Error) Is(target error) bool {
	t, ok := target.(*Error)
	if !ok {
		return false
	}
	if t.Op == "" && t.Message == "" {
		return t.Code == e.Code
	}
	return t.Code == e.Code && t.Op == e.Op && t.Message == e.Message
}

// Sentinels for errors.Is, one per code.
var (
	ErrInvalidArgument = &Error{Code: CodeInvalidArgument}
	ErrNotFound        = &Error{Code: CodeNotFound}
	ErrDuplicate       = &Error{Code: CodeDuplicate}
	ErrCycle           = &Error{Code: CodeCycle}
	ErrConfig          = &Error{Code: CodeConfig}
	ErrBackend         = &Error{Code: CodeBackend}
	ErrTaskFailed      = &Error{Code: CodeTaskFailed}
	ErrPanic           = &Error{Code: CodePanic}
	ErrCancelled       = &Error{Code: CodeCancelled}
	ErrTimeout         = &Error{Code: CodeTimeout}
	ErrUnsupported     = &Error{Code: CodeUnsupported}
)

// ErrClosed is returned by methods called on a closed Backend or Pipeline.
// It also matches ErrInvalidArgument.
var ErrClosed = errors.New("dremioorch: use of a closed object")

type closedError struct{ op string }

func (e *closedError) Error() string { return "dremioorch: " + e.op + ": object is closed" }
func (e *closedError) Is(target error) bool {
	return target == ErrClosed || target == ErrInvalidArgument
}

func errClosed(op string) error { return &closedError{op: op} }

// codeOf maps any error coming back from Go code (a task, a Store) to the
// code handed to C: the Code of an *Error in its chain, else fallback.
func codeOf(err error, fallback Code) Code {
	var e *Error
	if errors.As(err, &e) && e.Code != CodeOK {
		return e.Code
	}
	if errors.Is(err, ErrClosed) {
		return CodeInvalidArgument
	}
	return fallback
}
