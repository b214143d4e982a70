// Package api serves the gateway → worker endpoints (docs/worker-protocol.md §4): auth, parsing, answers.
package api

import (
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/whatsapp-gateway/providers/whatsmeow/internal/logx"
	"github.com/whatsapp-gateway/providers/whatsmeow/internal/protocol"
)

const (
	maxContactChecks = 50
	maxReadIDs       = 1000
	maxBody          = 1 << 20
	// A 100 MB document in base64, with room for the rest of the body.
	maxSendBody = 140 << 20
)

// Engine is what the endpoints need from the linked device.
type Engine interface {
	State() (string, string, *time.Time)
	Me() map[string]any
	CurrentQR() (map[string]any, error)
	PairCode(ctx context.Context, phone string) (map[string]any, error)
	Send(ctx context.Context, send *protocol.Send) (map[string]any, error)
	MarkRead(ctx context.Context, chat string, ids []string, sender string) error
	SetPresence(ctx context.Context, chat, state string) error
	CheckContacts(ctx context.Context, phones []string) ([]map[string]any, error)
	Media(ctx context.Context, id string) ([]byte, string, error)
	Logout(ctx context.Context) error
}

// Identity is what the status reports about the worker itself.
type Identity struct {
	InstanceID      string
	Epoch           int
	Provider        string
	ProviderVersion string
	Protocol        int
	StartedAt       time.Time
}

// API is the worker's HTTP handler.
type API struct {
	id       Identity
	token    []byte
	engine   Engine
	spooled  func() int
	shutdown func(reason string)
	log      *logx.Logger
}

// New builds the handler; `shutdown` is called once a shutdown request has been answered.
func New(id Identity, token string, engine Engine, spooled func() int, shutdown func(string), log *logx.Logger) *API {
	return &API{id: id, token: []byte("Bearer " + token), engine: engine, spooled: spooled, shutdown: shutdown, log: log}
}

type route struct {
	method  string
	handler func(*http.Request) (int, any, error)
}

func (a *API) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	path := strings.TrimRight(r.URL.Path, "/")
	if path == "/v1/health" {
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			methodNotAllowed(w, "GET")
			return
		}
		writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
		return
	}
	if subtle.ConstantTimeCompare([]byte(r.Header.Get("Authorization")), a.token) != 1 {
		writeProblem(w, &protocol.Problem{Status: 401, Code: "unauthorized", Detail: "A valid `Authorization: Bearer` worker token is required."})
		return
	}
	routes := map[string]route{
		"/v1/status":         {http.MethodGet, a.status},
		"/v1/qr":             {http.MethodGet, a.qr},
		"/v1/pair-code":      {http.MethodPost, a.pairCode},
		"/v1/messages":       {http.MethodPost, a.send},
		"/v1/read":           {http.MethodPost, a.read},
		"/v1/presence":       {http.MethodPost, a.presence},
		"/v1/contacts/check": {http.MethodPost, a.checkContacts},
		"/v1/logout":         {http.MethodPost, a.logout},
	}
	if path == "/v1/shutdown" {
		if r.Method != http.MethodPost {
			methodNotAllowed(w, "POST")
			return
		}
		a.shutdownRequest(w, r)
		return
	}
	if strings.HasPrefix(path, "/v1/media/") {
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			methodNotAllowed(w, "GET")
			return
		}
		a.media(w, r, strings.TrimPrefix(path, "/v1/media/"))
		return
	}
	rt, ok := routes[path]
	if !ok {
		writeProblem(w, &protocol.Problem{Status: 404, Code: "not_found", Detail: "No endpoint at " + r.URL.Path + "."})
		return
	}
	if r.Method != rt.method {
		methodNotAllowed(w, rt.method)
		return
	}
	status, body, err := rt.handler(r)
	if err != nil {
		var problem *protocol.Problem
		if !errors.As(err, &problem) {
			a.log.Error("request failed", "path", path, "error", err)
			problem = &protocol.Problem{Status: 500, Code: "internal_error", Detail: "The worker failed to handle the request."}
		}
		writeProblem(w, problem)
		return
	}
	if body == nil {
		w.WriteHeader(status)
		return
	}
	writeJSON(w, status, body)
}

func readBody(r *http.Request, limit int64) ([]byte, error) {
	data, err := io.ReadAll(http.MaxBytesReader(nil, r.Body, limit))
	if err != nil {
		var tooLarge *http.MaxBytesError
		if errors.As(err, &tooLarge) {
			return nil, &protocol.Problem{Status: 413, Code: "media_too_large", Detail: "The body is too large."}
		}
		return nil, protocol.Invalid("The body could not be read.")
	}
	return data, nil
}

func readObject(r *http.Request) (map[string]any, error) {
	data, err := readBody(r, maxBody)
	if err != nil {
		return nil, err
	}
	return protocol.ParseObject(data)
}

func (a *API) status(*http.Request) (int, any, error) {
	state, _, _ := a.engine.State()
	return http.StatusOK, map[string]any{
		"instance_id":      a.id.InstanceID,
		"epoch":            a.id.Epoch,
		"provider":         a.id.Provider,
		"provider_version": a.id.ProviderVersion,
		"protocol":         a.id.Protocol,
		"connection_state": state,
		"me":               a.engine.Me(),
		"spooled_events":   a.spooled(),
		"started_at":       a.id.StartedAt.UTC().Format("2006-01-02T15:04:05.000Z"),
	}, nil
}

func (a *API) qr(*http.Request) (int, any, error) {
	qr, err := a.engine.CurrentQR()
	return http.StatusOK, qr, err
}

func (a *API) pairCode(r *http.Request) (int, any, error) {
	body, err := readObject(r)
	if err != nil {
		return 0, nil, err
	}
	phone, _ := body["phone"].(string)
	if !protocol.IsPhone(phone) {
		return 0, nil, protocol.Invalid("`phone` must be a phone number: 6 to 15 digits.")
	}
	answer, err := a.engine.PairCode(r.Context(), phone)
	return http.StatusOK, answer, err
}

func (a *API) send(r *http.Request) (int, any, error) {
	data, err := readBody(r, maxSendBody)
	if err != nil {
		return 0, nil, err
	}
	send, err := protocol.ParseSend(data)
	if err != nil {
		return 0, nil, err
	}
	result, err := a.engine.Send(r.Context(), send)
	return http.StatusAccepted, result, err
}

func recipient(body map[string]any, key string, required bool) (string, error) {
	value, present := body[key]
	if !present || value == nil {
		if required {
			return "", &protocol.Problem{Status: 422, Code: "invalid_recipient", Detail: "`" + key + "` must be a phone number or a WhatsApp JID."}
		}
		return "", nil
	}
	s, ok := value.(string)
	if !ok || !protocol.IsRecipient(s) {
		return "", &protocol.Problem{Status: 422, Code: "invalid_recipient", Detail: "`" + key + "` must be a phone number or a WhatsApp JID."}
	}
	return s, nil
}

func (a *API) read(r *http.Request) (int, any, error) {
	body, err := readObject(r)
	if err != nil {
		return 0, nil, err
	}
	chat, err := recipient(body, "chat", true)
	if err != nil {
		return 0, nil, err
	}
	list, ok := body["message_ids"].([]any)
	if !ok || len(list) == 0 || len(list) > maxReadIDs {
		return 0, nil, protocol.Invalid("`message_ids` must be a list of 1 to %d message ids.", maxReadIDs)
	}
	ids := make([]string, 0, len(list))
	for _, item := range list {
		id, ok := item.(string)
		if !ok || id == "" {
			return 0, nil, protocol.Invalid("`message_ids` must be a list of 1 to %d message ids.", maxReadIDs)
		}
		ids = append(ids, id)
	}
	sender, err := recipient(body, "sender", false)
	if err != nil {
		return 0, nil, protocol.Invalid("`sender` must be a phone number or a WhatsApp JID.")
	}
	return http.StatusNoContent, nil, a.engine.MarkRead(r.Context(), chat, ids, sender)
}

func (a *API) presence(r *http.Request) (int, any, error) {
	body, err := readObject(r)
	if err != nil {
		return 0, nil, err
	}
	state, _ := body["state"].(string)
	valid := false
	for _, s := range protocol.PresenceStates {
		valid = valid || s == state
	}
	if !valid {
		return 0, nil, protocol.Invalid("`state` must be one of %s.", strings.Join(protocol.PresenceStates, ", "))
	}
	// Available/unavailable is the account's own presence; the others are about one chat.
	accountWide := state == "available" || state == "unavailable"
	chat, err := recipient(body, "chat", !accountWide)
	if err != nil {
		return 0, nil, err
	}
	return http.StatusNoContent, nil, a.engine.SetPresence(r.Context(), chat, state)
}

func (a *API) checkContacts(r *http.Request) (int, any, error) {
	body, err := readObject(r)
	if err != nil {
		return 0, nil, err
	}
	list, ok := body["phones"].([]any)
	if !ok {
		return 0, nil, protocol.Invalid("`phones` must be a list of phone numbers.")
	}
	if len(list) > maxContactChecks {
		return 0, nil, protocol.Invalid("At most %d phones per check.", maxContactChecks)
	}
	phones := make([]string, 0, len(list))
	for _, item := range list {
		phone, ok := item.(string)
		if !ok || !protocol.IsPhone(phone) {
			return 0, nil, &protocol.Problem{Status: 422, Code: "invalid_recipient", Detail: "`phones` must hold phone numbers: 6 to 15 digits."}
		}
		phones = append(phones, phone)
	}
	if len(phones) == 0 {
		return http.StatusOK, map[string]any{"results": []any{}}, nil
	}
	results, err := a.engine.CheckContacts(r.Context(), phones)
	return http.StatusOK, map[string]any{"results": results}, err
}

func (a *API) media(w http.ResponseWriter, r *http.Request, id string) {
	data, mimetype, err := a.engine.Media(r.Context(), id)
	if err != nil {
		var problem *protocol.Problem
		if !errors.As(err, &problem) {
			a.log.Error("media request failed", "error", err)
			problem = &protocol.Problem{Status: 500, Code: "internal_error", Detail: "The worker failed to read the media."}
		}
		writeProblem(w, problem)
		return
	}
	w.Header().Set("Content-Type", mimetype)
	w.WriteHeader(http.StatusOK)
	if r.Method != http.MethodHead {
		_, _ = w.Write(data)
	}
}

func (a *API) logout(r *http.Request) (int, any, error) {
	return http.StatusNoContent, nil, a.engine.Logout(r.Context())
}

func (a *API) shutdownRequest(w http.ResponseWriter, r *http.Request) {
	data, err := readBody(r, maxBody)
	if err != nil {
		writeProblem(w, protocol.Invalid("The body could not be read."))
		return
	}
	reason := "requested"
	if len(strings.TrimSpace(string(data))) > 0 && strings.TrimSpace(string(data)) != "null" {
		body, err := protocol.ParseObject(data)
		if err != nil {
			writeProblem(w, err.(*protocol.Problem))
			return
		}
		if given, present := body["reason"]; present && given != nil {
			text, ok := given.(string)
			if !ok {
				writeProblem(w, protocol.Invalid("`reason` must be a string."))
				return
			}
			if text != "" {
				reason = text
			}
		}
	}
	writeJSON(w, http.StatusAccepted, map[string]string{"status": "shutting_down"})
	if flusher, ok := w.(http.Flusher); ok {
		flusher.Flush()
	}
	a.shutdown(reason)
}

func writeJSON(w http.ResponseWriter, status int, body any) {
	data, err := json.Marshal(body)
	if err != nil {
		status, data = 500, []byte(`{"code":"internal_error"}`)
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(data)
}

func writeProblem(w http.ResponseWriter, p *protocol.Problem) {
	data, _ := json.Marshal(p.Document())
	w.Header().Set("Content-Type", "application/problem+json")
	w.WriteHeader(p.Status)
	_, _ = w.Write(data)
}

func methodNotAllowed(w http.ResponseWriter, allowed string) {
	w.Header().Set("Allow", allowed)
	writeProblem(w, &protocol.Problem{Status: 405, Code: "method_not_allowed", Detail: "Allowed: " + allowed + "."})
}
