package spool

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"testing"
)

func nowarn(string, ...any) {}

func appendIDs(t *testing.T, s *Spool, ids ...int) {
	t.Helper()
	err := s.Append(func() ([]json.RawMessage, error) {
		var events []json.RawMessage
		for _, id := range ids {
			events = append(events, json.RawMessage(fmt.Sprintf(`{"id":"evt_%d"}`, id)))
		}
		return events, nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func ids(t *testing.T, b Batch) []string {
	t.Helper()
	var out []string
	for _, e := range b.Events {
		var v struct{ ID string }
		if err := json.Unmarshal(e, &v); err != nil {
			t.Fatal(err)
		}
		out = append(out, v.ID)
	}
	return out
}

func TestSpoolSurvivesReopenAndAcknowledgesByCursor(t *testing.T) {
	dir := t.TempDir()
	s, err := Open(dir, nowarn)
	if err != nil {
		t.Fatal(err)
	}
	appendIDs(t, s, 1, 2, 3)
	batch, _ := s.Peek(2)
	if got := ids(t, batch); len(got) != 2 || got[0] != "evt_1" {
		t.Fatalf("peek: %v", got)
	}
	if err := s.Ack(batch); err != nil {
		t.Fatal(err)
	}
	s.Close()

	reopened, err := Open(dir, nowarn)
	if err != nil {
		t.Fatal(err)
	}
	if reopened.Len() != 1 {
		t.Fatalf("pending after reopen: %d", reopened.Len())
	}
	batch, _ = reopened.Peek(10)
	if got := ids(t, batch); len(got) != 1 || got[0] != "evt_3" {
		t.Fatalf("after reopen: %v", got)
	}
	if err := reopened.Ack(batch); err != nil {
		t.Fatal(err)
	}
	if reopened.Len() != 0 {
		t.Fatalf("pending: %d", reopened.Len())
	}
	appendIDs(t, reopened, 4)
	batch, _ = reopened.Peek(10)
	if got := ids(t, batch); len(got) != 1 || got[0] != "evt_4" {
		t.Fatalf("after a new generation: %v", got)
	}
}

func TestSpoolCutsATornLastLine(t *testing.T) {
	dir := t.TempDir()
	s, _ := Open(dir, nowarn)
	appendIDs(t, s, 1)
	path := s.path(s.generation)
	s.Close()
	f, _ := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
	f.WriteString(`{"id":"evt_2","ty`)
	f.Close()

	reopened, err := Open(dir, nowarn)
	if err != nil {
		t.Fatal(err)
	}
	appendIDs(t, reopened, 3)
	batch, _ := reopened.Peek(10)
	if got := ids(t, batch); len(got) != 2 || got[0] != "evt_1" || got[1] != "evt_3" {
		t.Fatalf("got %v", got)
	}
	matches, _ := filepath.Glob(filepath.Join(dir, "events-*.jsonl"))
	if len(matches) != 1 {
		t.Fatalf("generations on disk: %v", matches)
	}
}
