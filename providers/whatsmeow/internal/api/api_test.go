package api

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/whatsapp-gateway/providers/whatsmeow/internal/logx"
	"github.com/whatsapp-gateway/providers/whatsmeow/internal/protocol"
)

// stubEngine is connected and records what it was asked.
type stubEngine struct {
	sent     []*protocol.Send
	presence []string
	read     []string
}

func (s *stubEngine) State() (string, string, *time.Time) { return "connected", "", nil }
func (s *stubEngine) Me() map[string]any                  { return map[string]any{"phone": "14155550100"} }
func (s *stubEngine) CurrentQR() (map[string]any, error)  { return nil, protocol.AlreadyConnected() }
func (s *stubEngine) PairCode(context.Context, string) (map[string]any, error) {
	return nil, protocol.AlreadyConnected()
}
func (s *stubEngine) Send(_ context.Context, send *protocol.Send) (map[string]any, error) {
	s.sent = append(s.sent, send)
	return map[string]any{"id": send.ID, "provider_message_id": "3EB0X", "status": "sent"}, nil
}
func (s *stubEngine) MarkRead(_ context.Context, chat string, ids []string, sender string) error {
	s.read = append(s.read, chat+"|"+strings.Join(ids, ",")+"|"+sender)
	return nil
}
func (s *stubEngine) SetPresence(_ context.Context, chat, state string) error {
	s.presence = append(s.presence, chat+"|"+state)
	return nil
}
func (s *stubEngine) CheckContacts(_ context.Context, phones []string) ([]map[string]any, error) {
	return []map[string]any{{"phone": phones[0], "on_whatsapp": true}}, nil
}
func (s *stubEngine) Media(context.Context, string) ([]byte, string, error) {
	return []byte("bytes"), "image/png", nil
}
func (s *stubEngine) Logout(context.Context) error { return nil }

// shutdownLog records the reasons the API's shutdown callback was called with. The API calls it after the answer
// has gone out, on the server's goroutine, so a test reads it under the lock and waits for it.
type shutdownLog struct {
	mu      sync.Mutex
	reasons []string
}

func (l *shutdownLog) add(reason string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.reasons = append(l.reasons, reason)
}

// wait returns the reasons once there are at least n, or what there is after a second.
func (l *shutdownLog) wait(n int) []string {
	deadline := time.Now().Add(time.Second)
	for {
		l.mu.Lock()
		reasons := append([]string(nil), l.reasons...)
		l.mu.Unlock()
		if len(reasons) >= n || time.Now().After(deadline) {
			return reasons
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func serve(t *testing.T) (*httptest.Server, *stubEngine, *shutdownLog) {
	t.Helper()
	engine := &stubEngine{}
	shutdowns := &shutdownLog{}
	handler := New(Identity{InstanceID: "ins_1", Epoch: 3, Provider: "whatsmeow", ProviderVersion: "1", Protocol: 1, StartedAt: time.Now()},
		"secret", engine, func() int { return 2 }, shutdowns.add, logx.NewTo(io.Discard, "error"))
	server := httptest.NewServer(handler)
	t.Cleanup(server.Close)
	return server, engine, shutdowns
}

func call(t *testing.T, server *httptest.Server, method, path, body string, auth bool) (*http.Response, map[string]any) {
	t.Helper()
	req, _ := http.NewRequest(method, server.URL+path, strings.NewReader(body))
	if auth {
		req.Header.Set("Authorization", "Bearer secret")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var decoded map[string]any
	_ = json.NewDecoder(resp.Body).Decode(&decoded)
	return resp, decoded
}

func TestEndpoints(t *testing.T) {
	server, engine, shutdowns := serve(t)
	cases := []struct {
		name, method, path, body string
		auth                     bool
		status                   int
		code                     string
	}{
		{"health needs no token", "GET", "/v1/health", "", false, 200, ""},
		{"status needs one", "GET", "/v1/status", "", false, 401, "unauthorized"},
		{"unknown routes are 401 without a token", "GET", "/v1/nothing", "", false, 401, "unauthorized"},
		{"unknown routes", "GET", "/v1/nothing", "", true, 404, "not_found"},
		{"wrong method", "GET", "/v1/messages", "", true, 405, "method_not_allowed"},
		{"status", "GET", "/v1/status", "", true, 200, ""},
		{"qr while connected", "GET", "/v1/qr", "", true, 409, "already_connected"},
		{"pair code for a bad phone", "POST", "/v1/pair-code", `{"phone": "+1 415"}`, true, 422, "invalid_request"},
		{"send", "POST", "/v1/messages", `{"id": "msg_1", "to": "14155550100", "type": "text", "text": "hi"}`, true, 202, ""},
		{"send that is not an object", "POST", "/v1/messages", `[]`, true, 422, "invalid_request"},
		{"read", "POST", "/v1/read", `{"chat": "120363025246125888@g.us", "message_ids": ["A", "B"], "sender": "14155550100"}`, true, 204, ""},
		{"read with a bad chat", "POST", "/v1/read", `{"chat": "x", "message_ids": ["A"]}`, true, 422, "invalid_recipient"},
		{"account presence needs no chat", "POST", "/v1/presence", `{"state": "available"}`, true, 204, ""},
		{"typing needs a chat", "POST", "/v1/presence", `{"state": "composing"}`, true, 422, "invalid_recipient"},
		{"unknown presence", "POST", "/v1/presence", `{"chat": "14155550100", "state": "dancing"}`, true, 422, "invalid_request"},
		{"contact check", "POST", "/v1/contacts/check", `{"phones": ["14155550100"]}`, true, 200, ""},
		{"contact check of a non-number", "POST", "/v1/contacts/check", `{"phones": ["abc"]}`, true, 422, "invalid_recipient"},
		{"media", "GET", "/v1/media/abc", "", true, 200, ""},
		{"logout", "POST", "/v1/logout", "", true, 204, ""},
		{"shutdown with a reason that is not a string", "POST", "/v1/shutdown", `{"reason": 3}`, true, 422, "invalid_request"},
		{"shutdown", "POST", "/v1/shutdown", `{"reason": "deploy"}`, true, 202, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			resp, body := call(t, server, tc.method, tc.path, tc.body, tc.auth)
			if resp.StatusCode != tc.status {
				t.Fatalf("status %d, want %d: %v", resp.StatusCode, tc.status, body)
			}
			if tc.code != "" {
				if ct := resp.Header.Get("Content-Type"); ct != "application/problem+json" || body["code"] != tc.code {
					t.Fatalf("want problem %s, got %s %v", tc.code, ct, body)
				}
			}
		})
	}
	if len(engine.sent) != 1 || engine.sent[0].Text != "hi" {
		t.Errorf("sends: %v", engine.sent)
	}
	if strings.Join(engine.read, ";") != "120363025246125888@g.us|A,B|14155550100" {
		t.Errorf("reads: %v", engine.read)
	}
	if strings.Join(engine.presence, ";") != "|available" {
		t.Errorf("presence: %v", engine.presence)
	}
	if reasons := shutdowns.wait(1); strings.Join(reasons, ";") != "deploy" {
		t.Errorf("shutdowns: %v", reasons)
	}
}

func TestStatus(t *testing.T) {
	server, _, _ := serve(t)
	_, body := call(t, server, "GET", "/v1/status", "", true)
	if body["instance_id"] != "ins_1" || body["epoch"] != float64(3) || body["connection_state"] != "connected" ||
		body["spooled_events"] != float64(2) || body["provider"] != "whatsmeow" {
		t.Fatalf("%v", body)
	}
}
