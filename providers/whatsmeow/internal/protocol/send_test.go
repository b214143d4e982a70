package protocol

import (
	"encoding/base64"
	"errors"
	"strings"
	"testing"
)

func TestParseSendRefusals(t *testing.T) {
	big := base64.StdEncoding.EncodeToString(make([]byte, MaxMediaBytes+1))
	cases := []struct {
		name   string
		body   string
		status int
		code   string
	}{
		{"not json", `{"id": `, 422, "invalid_request"},
		{"array", `[]`, 422, "invalid_request"},
		{"not utf-8", "\xff\xfe", 422, "invalid_request"},
		{"no id", `{"to": "14155550100", "type": "text", "text": "x"}`, 422, "invalid_request"},
		{"bad recipient", `{"id": "m", "to": "hello@g", "type": "text", "text": "x"}`, 422, "invalid_recipient"},
		{"unknown type", `{"id": "m", "to": "14155550100", "type": "hologram"}`, 422, "unsupported_message_type"},
		{"empty text", `{"id": "m", "to": "14155550100", "type": "text", "text": ""}`, 422, "invalid_request"},
		{"text too long", `{"id": "m", "to": "14155550100", "type": "text", "text": "` + strings.Repeat("x", 4097) + `"}`, 422, "invalid_request"},
		{"media with url and base64", `{"id": "m", "to": "14155550100", "type": "image", "media": {"url": "https://x/y", "base64": "AA=="}}`, 422, "invalid_request"},
		{"media url not http", `{"id": "m", "to": "14155550100", "type": "image", "media": {"url": "file:///etc/passwd"}}`, 422, "invalid_request"},
		{"bad base64", `{"id": "m", "to": "14155550100", "type": "image", "media": {"base64": "!!"}}`, 422, "invalid_request"},
		{"image over 16 MB", `{"id": "m", "to": "14155550100", "type": "image", "media": {"base64": "` + big + `"}}`, 413, "media_too_large"},
		{"latitude out of range", `{"id": "m", "to": "14155550100", "type": "location", "location": {"latitude": 91, "longitude": 0}}`, 422, "invalid_request"},
		{"contact without phones", `{"id": "m", "to": "14155550100", "type": "contact", "contact": {"name": "A", "phones": []}}`, 422, "invalid_request"},
		{"reaction without emoji", `{"id": "m", "to": "14155550100", "type": "reaction", "reaction": {"message_id": "X"}}`, 422, "invalid_request"},
		{"poll with one option", `{"id": "m", "to": "14155550100", "type": "poll", "poll": {"name": "Q", "options": ["a"]}}`, 422, "invalid_request"},
		{"poll selecting more than it offers", `{"id": "m", "to": "14155550100", "type": "poll", "poll": {"name": "Q", "options": ["a", "b"], "selectable_count": 3}}`, 422, "invalid_request"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ParseSend([]byte(tc.body))
			var problem *Problem
			if !errors.As(err, &problem) {
				t.Fatalf("want a problem, got %v", err)
			}
			if problem.Status != tc.status || problem.Code != tc.code {
				t.Fatalf("got %d %s, want %d %s", problem.Status, problem.Code, tc.status, tc.code)
			}
		})
	}
}

func TestParseSendAcceptsMediaFieldsBesideOrInsideMedia(t *testing.T) {
	send, err := ParseSend([]byte(`{"id": "m", "to": "14155550100", "type": "document",
		"media": {"base64": "JVBERi0=", "filename": "inner.pdf"}, "filename": "outer.pdf", "mimetype": "application/pdf", "caption": "c"}`))
	if err != nil {
		t.Fatal(err)
	}
	m := send.Media
	if m.Filename != "inner.pdf" || m.Mimetype != "application/pdf" || m.Caption != "c" || string(m.Data) != "%PDF-" || m.Limit != MaxDocumentBytes {
		t.Fatalf("got %+v", m)
	}
	send, err = ParseSend([]byte(`{"id": "m", "to": "14155550100", "type": "image", "media": {"base64": "data:image/png;base64,iVBORw=="}}`))
	if err != nil || send.Media.Mimetype != "image/png" {
		t.Fatalf("a data URL gives its mimetype: %+v %v", send, err)
	}
}
