// Package protocol holds the worker-side shapes of worker protocol v1: problem documents (§8), the unified send body
// (§5) and recipients.
package protocol

import "fmt"

// Problem is an error the worker answers as an RFC 9457 problem document with a stable code.
type Problem struct {
	Status int
	Code   string
	Detail string
}

func (p *Problem) Error() string { return fmt.Sprintf("%d %s: %s", p.Status, p.Code, p.Detail) }

var titles = map[int]string{
	400: "Bad request", 401: "Unauthorized", 404: "Not found", 405: "Method not allowed", 409: "Conflict",
	413: "Content too large", 422: "Unprocessable content", 500: "Internal error", 501: "Not implemented",
	503: "Service unavailable",
}

// Document is the JSON body.
func (p *Problem) Document() map[string]any {
	title, ok := titles[p.Status]
	if !ok {
		title = "Error"
	}
	return map[string]any{"type": "about:blank", "title": title, "status": p.Status, "detail": p.Detail, "code": p.Code}
}

func Invalid(format string, args ...any) *Problem {
	return &Problem{422, "invalid_request", fmt.Sprintf(format, args...)}
}

func InvalidRecipient(field string) *Problem {
	return &Problem{422, "invalid_recipient", fmt.Sprintf("`%s` must be a phone number (6 to 15 digits) or a WhatsApp JID.", field)}
}

func NotConnected() *Problem {
	return &Problem{409, "not_connected", "The worker is not connected to WhatsApp."}
}

func AlreadyConnected() *Problem {
	return &Problem{409, "already_connected", "The device is already linked."}
}

func EngineUnavailable(format string, args ...any) *Problem {
	return &Problem{503, "engine_unavailable", fmt.Sprintf(format, args...)}
}

func TooLarge(limit int64) *Problem {
	return &Problem{413, "media_too_large", fmt.Sprintf("The media exceeds %d bytes.", limit)}
}
