package engine

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"go.mau.fi/whatsmeow/proto/waAdv"
	"go.mau.fi/whatsmeow/proto/waE2E"
	"go.mau.fi/whatsmeow/types"
	"go.mau.fi/whatsmeow/types/events"
	"google.golang.org/protobuf/proto"

	"github.com/whatsapp-gateway/providers/whatsmeow/internal/config"
	"github.com/whatsapp-gateway/providers/whatsmeow/internal/gateway"
	"github.com/whatsapp-gateway/providers/whatsmeow/internal/logx"
	"github.com/whatsapp-gateway/providers/whatsmeow/internal/protocol"
	"github.com/whatsapp-gateway/providers/whatsmeow/internal/sink"
	"github.com/whatsapp-gateway/providers/whatsmeow/internal/spool"
)

// fakeGateway is the worker → gateway half of the protocol in memory: events, key-value state, snapshots, fencing.
type fakeGateway struct {
	mu          sync.Mutex
	superseded  bool
	events      []map[string]any
	kv          map[string]string
	generations [][]byte
	calls       int
}

func (f *fakeGateway) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls++
	if f.superseded {
		w.Header().Set("Content-Type", "application/problem+json")
		w.WriteHeader(409)
		_, _ = w.Write([]byte(`{"code": "epoch_superseded"}`))
		return
	}
	body, _ := io.ReadAll(r.Body)
	switch {
	case strings.HasSuffix(r.URL.Path, "/events"):
		var batch struct{ Events []map[string]any }
		_ = json.Unmarshal(body, &batch)
		f.events = append(f.events, batch.Events...)
		_, _ = w.Write([]byte(`{"accepted": 1, "duplicates": 0}`))
	case strings.HasSuffix(r.URL.Path, "/state"):
		var batch gateway.StateBatch
		_ = json.Unmarshal(body, &batch)
		if batch.Clear {
			f.kv = map[string]string{}
		}
		_, _ = w.Write([]byte(`{"values": {}}`))
	case strings.Contains(r.URL.Path, "/snapshots/"):
		if r.Method == http.MethodGet {
			if len(f.generations) == 0 {
				w.WriteHeader(404)
				return
			}
			content := f.generations[len(f.generations)-1]
			sum := sha256.Sum256(content)
			w.Header().Set("X-Content-SHA256", hex.EncodeToString(sum[:]))
			w.Header().Set("X-Generation", strconv.Itoa(len(f.generations)))
			_, _ = w.Write(content)
			return
		}
		sum := sha256.Sum256(body)
		if r.Header.Get("X-Content-SHA256") != hex.EncodeToString(sum[:]) {
			w.WriteHeader(422)
			return
		}
		if r.Header.Get("If-Match") != strconv.Itoa(len(f.generations)) {
			w.WriteHeader(412)
			return
		}
		f.generations = append(f.generations, body)
		w.WriteHeader(201)
		_, _ = w.Write([]byte(`{"generation": ` + strconv.Itoa(len(f.generations)) + `}`))
	default:
		w.WriteHeader(503)
	}
}

func (f *fakeGateway) latest() []byte {
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.generations) == 0 {
		return nil
	}
	return f.generations[len(f.generations)-1]
}

type harness struct {
	fake    *fakeGateway
	gw      *gateway.Client
	engine  *Engine
	spool   *spool.Spool
	dataDir string
}

func newHarness(t *testing.T, fake *fakeGateway, dataDir string) *harness {
	t.Helper()
	server := httptest.NewServer(fake)
	t.Cleanup(server.Close)
	log := logx.NewTo(io.Discard, "error")
	gw := gateway.New(server.URL, "ins_TEST", "token", 1, "test", func() {})
	sp, err := spool.Open(filepath.Join(dataDir, "spool"), log.Warn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sp.Close() })
	provider := config.DefaultProviderConfig()
	provider.ReconnectMin, provider.ReconnectMax = 10*time.Millisecond, 50*time.Millisecond
	cfg := &config.Config{InstanceID: "ins_TEST", Epoch: 1, DataDir: dataDir, Provider: provider}
	e, err := New(cfg, log, gw, sink.New(sp, gw, log))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.Abort() })
	return &harness{fake: fake, gw: gw, engine: e, spool: sp, dataDir: dataDir}
}

func (h *harness) spooled(t *testing.T) []map[string]any {
	t.Helper()
	batch, err := h.spool.Peek(1000)
	if err != nil {
		t.Fatal(err)
	}
	var out []map[string]any
	for _, raw := range batch.Events {
		var event map[string]any
		_ = json.Unmarshal(raw, &event)
		out = append(out, event)
	}
	return out
}

func TestSessionSnapshotRoundTrip(t *testing.T) {
	fake := &fakeGateway{}
	first := newHarness(t, fake, t.TempDir())
	ctx := context.Background()
	if err := first.engine.snaps.Restore(ctx); err != nil {
		t.Fatal(err)
	}
	if err := first.engine.open(); err != nil {
		t.Fatal(err)
	}
	// Unpaired: nothing worth keeping.
	if err := first.engine.snaps.Upload(ctx, "test"); err != nil || fake.latest() != nil {
		t.Fatalf("an unpaired device was snapshotted: %v", err)
	}
	// Paired: a device row in the database, as whatsmeow writes it after pair success.
	device := first.engine.cli.Store
	jid := types.NewADJID("14155550100", 0, 12)
	device.ID, device.PushName = &jid, "Acme"
	device.Account = &waAdv.ADVSignedDeviceIdentity{Details: []byte("d"), AccountSignature: make([]byte, 64), AccountSignatureKey: make([]byte, 32), DeviceSignature: make([]byte, 64)}
	if err := device.Save(ctx); err != nil {
		t.Fatal(err)
	}
	if err := first.engine.snaps.Upload(ctx, "paired"); err != nil {
		t.Fatal(err)
	}
	stored := fake.latest()
	if !bytes.HasPrefix(stored, sqliteHeader) {
		t.Fatalf("the snapshot is not a SQLite database: %q", stored[:min(len(stored), 16)])
	}
	// Unchanged: no new generation.
	if err := first.engine.snaps.Upload(ctx, "again"); err != nil || len(fake.generations) != 1 {
		t.Fatalf("unchanged content made generation %d (%v)", len(fake.generations), err)
	}

	// A worker on a new node (empty DATA_DIR) gets the session from the state store.
	second := newHarness(t, fake, t.TempDir())
	if err := second.engine.snaps.Restore(ctx); err != nil {
		t.Fatal(err)
	}
	if err := second.engine.open(); err != nil {
		t.Fatal(err)
	}
	restored := second.engine.cli.Store
	if restored.ID == nil || restored.ID.User != "14155550100" || restored.PushName != "Acme" {
		t.Fatalf("restored device: %+v", restored.ID)
	}
	if me := second.engine.Me(); me["phone"] != "14155550100" {
		t.Fatalf("me: %v", me)
	}

	// Logged out: the store keeps a tombstone, and the next worker starts without a session.
	if err := second.engine.snaps.Forget(ctx); err != nil {
		t.Fatal(err)
	}
	if fake.latest() == nil || len(fake.latest()) != 0 {
		t.Fatal("no tombstone after forget")
	}
	third := newHarness(t, fake, first.dataDir) // the first node's disk still has the old database
	first.engine.Abort()
	if err := third.engine.snaps.Restore(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(first.dataDir, "whatsmeow.db")); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("a logged-out session survived on disk: %v", err)
	}
}

func TestInboundMessageIsSpooledAndItsMediaKept(t *testing.T) {
	fake := &fakeGateway{}
	h := newHarness(t, fake, t.TempDir())
	if err := h.engine.snaps.Restore(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := h.engine.open(); err != nil {
		t.Fatal(err)
	}
	sha := bytes.Repeat([]byte{0xab}, 32)
	msg := &events.Message{
		Info: types.MessageInfo{
			MessageSource: types.MessageSource{Chat: types.NewJID("14155550100", types.DefaultUserServer), Sender: types.NewJID("14155550100", types.DefaultUserServer)},
			ID:            "3EB0IN", Timestamp: time.Now(),
		},
		Message: &waE2E.Message{DocumentMessage: &waE2E.DocumentMessage{
			Mimetype: proto.String("application/pdf"), FileSHA256: sha, FileLength: proto.Uint64(10), FileName: proto.String("a.pdf"),
		}},
	}
	if !h.engine.onEvent(msg) {
		t.Fatal("the handler refused a message it could spool")
	}
	// WhatsApp delivers it again (the worker died before acknowledging it): the same event id, for the control
	// plane to de-duplicate.
	if !h.engine.onEvent(msg) {
		t.Fatal("the handler refused a redelivered message")
	}
	spooled := h.spooled(t)
	if len(spooled) != 2 || spooled[0]["type"] != "message.received" || spooled[0]["id"] != spooled[1]["id"] {
		t.Fatalf("spooled: %v", spooled)
	}
	media := spooled[0]["data"].(map[string]any)["media"].(map[string]any)
	id := hex.EncodeToString(sha)
	if media["download"] != "/v1/media/"+id {
		t.Fatalf("media: %v", media)
	}
	// Not connected: the reference is kept, the bytes cannot be fetched yet.
	_, _, err := h.engine.Media(context.Background(), id)
	var problem *protocol.Problem
	if !errors.As(err, &problem) || problem.Code != "engine_unavailable" {
		t.Fatalf("media while offline: %v", err)
	}
	if _, _, err := h.engine.Media(context.Background(), strings.Repeat("0", 64)); !errors.As(err, &problem) || problem.Code != "media_not_found" {
		t.Fatalf("unknown media: %v", err)
	}
	// A reaction to it names its author.
	if sender, ok := h.engine.senders.get("3EB0IN"); !ok || sender.User != "14155550100" {
		t.Fatalf("sender not remembered: %v", sender)
	}
}

func TestLoggedOutWipesTheSessionAndReportsIt(t *testing.T) {
	fake := &fakeGateway{kv: map[string]string{"x": "y"}}
	h := newHarness(t, fake, t.TempDir())
	if err := h.engine.snaps.Restore(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := h.engine.open(); err != nil {
		t.Fatal(err)
	}
	if !h.engine.onEvent(&events.LoggedOut{OnConnect: false, Reason: events.ConnectFailureLoggedOut}) {
		t.Fatal("handler failed")
	}
	state, reason, _ := h.engine.State()
	if state != "logged_out" || reason != "unlinked_from_phone" {
		t.Fatalf("state %s (%s)", state, reason)
	}
	deadline := time.Now().Add(5 * time.Second)
	for fake.latest() == nil && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if fake.latest() == nil || len(fake.kv) != 0 {
		t.Fatalf("the state store still holds the session: %d generations, kv %v", len(fake.generations), fake.kv)
	}
	var types []string
	for _, event := range h.spooled(t) {
		types = append(types, event["type"].(string))
	}
	if strings.Join(types, ",") != "session.logged_out,instance.status" {
		t.Fatalf("events: %v", types)
	}
}

func TestSuperseded(t *testing.T) {
	fake := &fakeGateway{superseded: true}
	server := httptest.NewServer(fake)
	defer server.Close()
	calls := 0
	gw := gateway.New(server.URL, "ins_TEST", "token", 1, "test", func() { calls++ })
	for i := 0; i < 3; i++ {
		if _, err := gw.State(context.Background(), gateway.StateBatch{Clear: true}); !errors.Is(err, gateway.ErrSuperseded) {
			t.Fatalf("call %d: %v", i, err)
		}
	}
	if calls != 1 || fake.calls != 1 {
		t.Fatalf("callback %d times, %d calls reached the gateway; want 1 and 1", calls, fake.calls)
	}
}

func TestSentLogAnswersRepeatsAcrossRestarts(t *testing.T) {
	path := filepath.Join(t.TempDir(), "sent.jsonl")
	log := logx.NewTo(io.Discard, "error")
	s, err := OpenSentLog(path, 2, log)
	if err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{"a", "b", "c"} {
		if err := s.Put(id, map[string]any{"id": id, "provider_message_id": "P" + id, "status": "sent"}); err != nil {
			t.Fatal(err)
		}
	}
	s.Close()
	reopened, err := OpenSentLog(path, 2, log)
	if err != nil {
		t.Fatal(err)
	}
	defer reopened.Close()
	if reopened.Get("a") != nil || reopened.ClientID("Pa") != "" {
		t.Fatal("the oldest entry beyond `keep` is forgotten")
	}
	if got := reopened.Get("c"); got == nil || got["provider_message_id"] != "Pc" || reopened.ClientID("Pb") != "b" {
		t.Fatalf("got %v", got)
	}
}

// pairedSnapshot makes the state store hold a paired session, as a worker leaves it after pairing.
func pairedSnapshot(t *testing.T, fake *fakeGateway) {
	t.Helper()
	h := newHarness(t, fake, t.TempDir())
	ctx := context.Background()
	if err := h.engine.snaps.Restore(ctx); err != nil {
		t.Fatal(err)
	}
	if err := h.engine.open(); err != nil {
		t.Fatal(err)
	}
	device := h.engine.cli.Store
	jid := types.NewADJID("14155550100", 0, 12)
	device.ID, device.PushName = &jid, "Acme"
	device.Account = &waAdv.ADVSignedDeviceIdentity{Details: []byte("d"), AccountSignature: make([]byte, 64), AccountSignatureKey: make([]byte, 32), DeviceSignature: make([]byte, 64)}
	if err := device.Save(ctx); err != nil {
		t.Fatal(err)
	}
	if err := h.engine.snaps.Upload(ctx, "paired"); err != nil {
		t.Fatal(err)
	}
	h.engine.Abort()
}

func TestPairedSessionRetriesWhileWhatsAppIsUnreachable(t *testing.T) {
	fake := &fakeGateway{}
	pairedSnapshot(t, fake)
	h := newHarness(t, fake, t.TempDir())
	h.engine.cfg.Provider.VersionCheckTimeout = 0
	h.engine.Start()
	deadline := time.Now().Add(30 * time.Second)
	for {
		state, reason, _ := h.engine.State()
		if state == "disconnected" && reason == "whatsapp_unreachable" {
			break
		}
		if state == "connected" || time.Now().After(deadline) {
			t.Fatalf("state %s (%s)", state, reason)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if me := h.engine.Me(); me == nil || me["phone"] != "14155550100" {
		t.Fatalf("the restored account is not reported: %v", me)
	}
	if _, err := h.engine.Send(context.Background(), &protocol.Send{ID: "msg_1", To: "14155550100", Type: "text", Text: "x"}); err == nil {
		t.Fatal("sent while unreachable")
	}
	generations := len(fake.generations)
	h.engine.Stop(2 * time.Second)
	if state, reason, _ := h.engine.State(); state != "disconnected" || reason != "shutdown" {
		t.Fatalf("after stop: %s (%s)", state, reason)
	}
	if len(fake.generations) < generations {
		t.Fatal("generations went missing")
	}
}

func waitState(t *testing.T, e *Engine, want, reason string, within time.Duration) {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		state, got, _ := e.State()
		if state == want && got == reason {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("state %s (%s), want %s (%s)", state, got, want, reason)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestTemporaryBanEndsWithAReconnectAndStreamReplacedDoesNot(t *testing.T) {
	fake := &fakeGateway{}
	pairedSnapshot(t, fake)
	h := newHarness(t, fake, t.TempDir())
	h.engine.cfg.Provider.VersionCheckTimeout = 0
	h.engine.Start()
	waitState(t, h.engine, "disconnected", "whatsapp_unreachable", 30*time.Second)

	h.engine.onEvent(&events.TemporaryBan{Code: events.TempBanBlockedByUsers, Expire: 300 * time.Millisecond})
	state, _, until := h.engine.State()
	if state != "banned" || until == nil {
		t.Fatalf("state %s until %v", state, until)
	}
	var status map[string]any
	for _, event := range h.spooled(t) {
		if event["type"] == "instance.status" {
			status = event["data"].(map[string]any)
		}
	}
	if status["connection_state"] != "banned" || status["until"] == nil {
		t.Fatalf("instance.status: %v", status)
	}
	// When the ban ends the worker connects again (and, offline, fails again).
	waitState(t, h.engine, "disconnected", "whatsapp_unreachable", 30*time.Second)

	h.engine.onEvent(&events.StreamReplaced{})
	waitState(t, h.engine, "failed", "stream_replaced", time.Second)
	time.Sleep(500 * time.Millisecond) // several backoff periods
	waitState(t, h.engine, "failed", "stream_replaced", time.Second)
}
