// Package webhook holds pusher's domain vocabulary: subscriptions, events,
// the Zettle envelope, and the error type whose message is safe to show to
// API clients. It imports nothing else from pusher.
package webhook

import (
	"errors"
	"fmt"
)

// Code classifies an Error. internal/httpapi maps each code to one HTTP status.
type Code string

// The error codes. Their HTTP statuses are given in parentheses.
const (
	Invalid          Code = "invalid"            // 400
	Unprocessable    Code = "unprocessable"      // 422
	Unauthorized     Code = "unauthorized"       // 401
	Forbidden        Code = "forbidden"          // 403
	NotFound         Code = "not_found"          // 404
	MethodNotAllowed Code = "method_not_allowed" // 405
	Conflict         Code = "conflict"           // 400 (Zettle answers duplicates with 400)
	TooLarge         Code = "too_large"          // 413
	UnsupportedMedia Code = "unsupported_media"  // 415
	TooManyRequests  Code = "too_many_requests"  // 429
	DestinationError Code = "destination_error"  // 500 with a safe message (Zettle's choice)
	Unavailable      Code = "unavailable"        // 503
	Internal         Code = "internal"           // 500
)

// Zettle error types used in the errorType field of error bodies. The first
// four are Zettle's own; the others are pusher's for cases Zettle leaves open.
const (
	TypeSubscriptionAlreadyExist     = "SUBSCRIPTION_ALREADY_EXIST"
	TypeSubscriptionNotFound         = "SUBSCRIPTION_NOT_FOUND"
	TypeDestinationNotAccessible     = "DESTINATION_NOT_ACCESSIBLE"
	TypeDestinationRespondedWithCode = "DESTINATION_RESPONDED_WITH_ERROR_CODE"
	TypeInvalidRequest               = "INVALID_REQUEST"
	TypeValidationError              = "VALIDATION_ERROR"
	TypeUnauthorized                 = "UNAUTHORIZED"
	TypeForbidden                    = "FORBIDDEN"
	TypeNotFound                     = "NOT_FOUND"
	TypeMethodNotAllowed             = "METHOD_NOT_ALLOWED"
	TypePayloadTooLarge              = "PAYLOAD_TOO_LARGE"
	TypeUnsupportedMediaType         = "UNSUPPORTED_MEDIA_TYPE"
	TypeServiceUnavailable           = "SERVICE_UNAVAILABLE"
	TypeTooManyRequests              = "TOO_MANY_REQUESTS"
	TypeSubscriptionLimitReached     = "SUBSCRIPTION_LIMIT_REACHED"
	TypeInternalError                = "INTERNAL_ERROR"
)

// Violation is one entry of the violations array of a Zettle error body.
type Violation struct {
	PropertyName     string `json:"propertyName"`
	DeveloperMessage string `json:"developerMessage"`
	ConstraintType   string `json:"constraintType"`
}

// Error is an error whose Message is safe to show to API clients.
// Any other error reaches clients only as an internal error.
type Error struct {
	Code       Code
	Type       string // Zettle errorType; empty means the default for Code
	Message    string
	Violations []Violation
}

func (e *Error) Error() string {
	if len(e.Violations) > 0 {
		return fmt.Sprintf("%s: %s (%d violations)", e.Code, e.Message, len(e.Violations))
	}
	return fmt.Sprintf("%s: %s", e.Code, e.Message)
}

// Errorf returns an *Error with the given code and a formatted message.
func Errorf(code Code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// TypedErrorf is Errorf with an explicit Zettle errorType.
func TypedErrorf(code Code, errorType, format string, args ...any) *Error {
	return &Error{Code: code, Type: errorType, Message: fmt.Sprintf(format, args...)}
}

// ErrorCode returns the code of the first *Error in err's chain, Internal if
// there is none, and "" for a nil error.
func ErrorCode(err error) Code {
	if err == nil {
		return ""
	}
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	return Internal
}

// IsCode reports whether err carries the given code.
func IsCode(err error, code Code) bool { return ErrorCode(err) == code }

// ErrSubscriptionNotFound is Zettle's 404 for an unknown subscription uuid.
func ErrSubscriptionNotFound(uuid string) *Error {
	return TypedErrorf(NotFound, TypeSubscriptionNotFound, "Subscription %s not found", uuid)
}

// ErrSubscriptionExists is Zettle's 400 for a uuid already in use.
func ErrSubscriptionExists(uuid string) *Error {
	return TypedErrorf(Conflict, TypeSubscriptionAlreadyExist, "Subscription with uuid %s already exists", uuid)
}
