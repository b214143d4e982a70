package engine

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"time"

	"go.mau.fi/whatsmeow/proto/waE2E"
	"go.mau.fi/whatsmeow/types"
	"google.golang.org/protobuf/proto"

	"github.com/whatsapp-gateway/providers/whatsmeow/internal/logx"
	"github.com/whatsapp-gateway/providers/whatsmeow/internal/protocol"
	"github.com/whatsapp-gateway/providers/whatsmeow/internal/spool"
	"github.com/whatsapp-gateway/providers/whatsmeow/internal/wa"
)

// SentLog keeps the results of sends by client id on disk, so a repeated id is answered without sending twice, and
// maps WhatsApp message ids back to client ids for receipts.
//
// An append-only JSON-lines file, rewritten with the newest `keep` entries when it doubles; a torn last line from a
// crash is ignored (that send was never answered, so its retry is a first attempt).
type SentLog struct {
	mu         sync.Mutex
	path       string
	keep       int
	order      []string
	results    map[string]map[string]any
	byProvider map[string]string
	lines      int
	file       *os.File
}

type sentEntry struct {
	ID     string         `json:"id"`
	Result map[string]any `json:"result"`
}

// OpenSentLog reads the log at path.
func OpenSentLog(path string, keep int, log *logx.Logger) (*SentLog, error) {
	s := &SentLog{path: path, keep: keep, results: map[string]map[string]any{}, byProvider: map[string]string{}}
	if data, err := os.ReadFile(path); err == nil {
		scanner := bufio.NewScanner(bytes.NewReader(data))
		scanner.Buffer(make([]byte, 64*1024), 1<<20)
		for scanner.Scan() {
			s.lines++
			var entry sentEntry
			if json.Unmarshal(scanner.Bytes(), &entry) != nil || entry.ID == "" {
				log.Warn("sent log: skipping an unreadable line")
				continue
			}
			s.remember(entry)
		}
	} else if !errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("sent log: %w", err)
	}
	if s.lines > 2*keep || s.lines != len(s.order) {
		if err := s.rewrite(); err != nil {
			return nil, err
		}
	}
	file, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("sent log: %w", err)
	}
	s.file = file
	return s, nil
}

func (s *SentLog) remember(entry sentEntry) {
	if _, seen := s.results[entry.ID]; !seen {
		s.order = append(s.order, entry.ID)
	}
	s.results[entry.ID] = entry.Result
	if provider, ok := entry.Result["provider_message_id"].(string); ok {
		s.byProvider[provider] = entry.ID
	}
	for len(s.order) > s.keep {
		oldest := s.order[0]
		s.order = s.order[1:]
		if provider, ok := s.results[oldest]["provider_message_id"].(string); ok {
			delete(s.byProvider, provider)
		}
		delete(s.results, oldest)
	}
}

// Get is the first result of a send, or nil.
func (s *SentLog) Get(id string) map[string]any {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.results[id]
}

// ClientID is the client id of one of our sends by its WhatsApp id, or "".
func (s *SentLog) ClientID(providerID string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.byProvider[providerID]
}

// Put records a send's result durably.
func (s *SentLog) Put(id string, result map[string]any) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	line, err := json.Marshal(sentEntry{ID: id, Result: result})
	if err != nil {
		return fmt.Errorf("sent log: %w", err)
	}
	if _, err := s.file.Write(append(line, '\n')); err != nil {
		return fmt.Errorf("sent log: %w", err)
	}
	if err := s.file.Sync(); err != nil {
		return fmt.Errorf("sent log: %w", err)
	}
	s.lines++
	s.remember(sentEntry{ID: id, Result: result})
	if s.lines > 2*s.keep {
		_ = s.file.Close()
		if err := s.rewrite(); err != nil {
			return err
		}
		if s.file, err = os.OpenFile(s.path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600); err != nil {
			return fmt.Errorf("sent log: %w", err)
		}
	}
	return nil
}

func (s *SentLog) rewrite() error {
	var buf bytes.Buffer
	for _, id := range s.order {
		line, _ := json.Marshal(sentEntry{ID: id, Result: s.results[id]})
		buf.Write(append(line, '\n'))
	}
	if err := spool.WriteAtomic(s.path, buf.Bytes()); err != nil {
		return fmt.Errorf("sent log: %w", err)
	}
	s.lines = len(s.order)
	return nil
}

// Close releases the file.
func (s *SentLog) Close() {
	s.mu.Lock()
	defer s.mu.Unlock()
	_ = s.file.Close()
}

// recentSenders remembers who sent recent inbound messages, so a reaction to one in a group names its author.
type recentSenders struct {
	mu    sync.Mutex
	byID  map[string]types.JID
	order []string
	limit int
}

func newRecentSenders(limit int) *recentSenders {
	return &recentSenders{byID: map[string]types.JID{}, limit: limit}
}

func (r *recentSenders) put(id string, sender types.JID) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if _, ok := r.byID[id]; !ok {
		r.order = append(r.order, id)
	}
	r.byID[id] = sender
	for len(r.order) > r.limit {
		delete(r.byID, r.order[0])
		r.order = r.order[1:]
	}
}

func (r *recentSenders) get(id string) (types.JID, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	jid, ok := r.byID[id]
	return jid, ok
}

// MediaStore keeps what is needed to fetch inbound media (the message's keys, a few hundred bytes) under
// DATA_DIR/media; the bytes are downloaded from WhatsApp when first asked for, then kept.
type MediaStore struct {
	dir string
}

var mediaIDPattern = regexp.MustCompile(`^[0-9a-f]{64}$`)

// ErrMediaNotFound is an id the store has never seen.
var ErrMediaNotFound = errors.New("media not found")

func openMediaStore(dir string) (*MediaStore, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("media store: %w", err)
	}
	return &MediaStore{dir: dir}, nil
}

type mediaMeta struct {
	Mimetype string `json:"mimetype"`
}

// Keep records a reference; durable before the event that points at it is spooled.
func (m *MediaStore) Keep(ref *wa.MediaRef) error {
	if !mediaIDPattern.MatchString(ref.ID) {
		return fmt.Errorf("media store: bad id %q", ref.ID)
	}
	if _, err := os.Stat(filepath.Join(m.dir, ref.ID+".pb")); err == nil {
		return nil
	}
	raw, err := proto.Marshal(ref.Message)
	if err != nil {
		return fmt.Errorf("media store: %w", err)
	}
	meta, _ := json.Marshal(mediaMeta{Mimetype: ref.Mime})
	if err := spool.WriteAtomic(filepath.Join(m.dir, ref.ID+".json"), meta); err != nil {
		return err
	}
	return spool.WriteAtomic(filepath.Join(m.dir, ref.ID+".pb"), raw)
}

// Fetch returns the bytes and mimetype of a media id, downloading them with `download` the first time.
func (m *MediaStore) Fetch(ctx context.Context, id string, download func(context.Context, *waE2E.Message) ([]byte, error)) ([]byte, string, error) {
	if !mediaIDPattern.MatchString(id) {
		return nil, "", ErrMediaNotFound
	}
	mimetype := "application/octet-stream"
	if raw, err := os.ReadFile(filepath.Join(m.dir, id+".json")); err == nil {
		var meta mediaMeta
		if json.Unmarshal(raw, &meta) == nil && meta.Mimetype != "" {
			mimetype = meta.Mimetype
		}
	}
	if data, err := os.ReadFile(filepath.Join(m.dir, id+".bin")); err == nil {
		return data, mimetype, nil
	}
	raw, err := os.ReadFile(filepath.Join(m.dir, id+".pb"))
	if err != nil {
		return nil, "", ErrMediaNotFound
	}
	var msg waE2E.Message
	if err := proto.Unmarshal(raw, &msg); err != nil {
		return nil, "", fmt.Errorf("media store: unreadable reference: %w", err)
	}
	data, err := download(ctx, &msg)
	if err != nil {
		return nil, "", err
	}
	if err := spool.WriteAtomic(filepath.Join(m.dir, id+".bin"), data); err != nil {
		return nil, "", err
	}
	return data, mimetype, nil
}

// loadMedia returns a send's bytes (inline, or downloaded from its URL within the limit) and the mimetype the
// download announced.
func loadMedia(ctx context.Context, media *protocol.Media, client *http.Client) ([]byte, string, error) {
	if media.URL == "" {
		return media.Data, "", nil
	}
	ctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, media.URL, nil)
	if err != nil {
		return nil, "", protocol.Invalid("`media.url` is not a valid URL.")
	}
	req.Header.Set("User-Agent", "whatsapp-gateway-whatsmeow-worker")
	resp, err := client.Do(req)
	if err != nil {
		return nil, "", protocol.Invalid("Could not download the media: %v", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, "", protocol.Invalid("Could not download the media: the server answered %d.", resp.StatusCode)
	}
	if resp.ContentLength > media.Limit {
		return nil, "", protocol.TooLarge(media.Limit)
	}
	data, err := io.ReadAll(io.LimitReader(resp.Body, media.Limit+1))
	if err != nil {
		return nil, "", protocol.Invalid("Could not download the media: %v", err)
	}
	if int64(len(data)) > media.Limit {
		return nil, "", protocol.TooLarge(media.Limit)
	}
	if len(data) == 0 {
		return nil, "", protocol.Invalid("The media at `media.url` is empty.")
	}
	mimetype := resp.Header.Get("Content-Type")
	if i := strings.IndexByte(mimetype, ';'); i >= 0 && !strings.HasPrefix(mimetype, "audio/ogg") {
		mimetype = mimetype[:i]
	}
	return data, strings.TrimSpace(mimetype), nil
}
