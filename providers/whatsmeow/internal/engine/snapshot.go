package engine

import (
	"bytes"
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/whatsapp-gateway/providers/whatsmeow/internal/gateway"
	"github.com/whatsapp-gateway/providers/whatsmeow/internal/logx"
	"github.com/whatsapp-gateway/providers/whatsmeow/internal/spool"
)

// SnapshotName is the state-store snapshot holding whatsmeow's SQLite database.
const SnapshotName = "whatsmeow-session"

var sqliteHeader = []byte("SQLite format 3\x00")

// snapshots keeps the session database in the state store (docs/worker-protocol.md §7): restored at start, written
// after pairing, a short quiet time after changes, and on shutdown. An empty snapshot is a tombstone: the session
// was logged out.
//
// DATA_DIR/snapshot.json remembers the generation this DATA_DIR last wrote or read, so a worker restarted on the same
// disk keeps its local file when nobody wrote a newer generation since (the local file may hold changes newer than
// the last snapshot), and takes the store's copy otherwise (a new node, or a session replaced elsewhere).
type snapshots struct {
	gw       *gateway.Client
	log      *logx.Logger
	dbPath   string
	metaPath string
	debounce time.Duration
	maxDelay time.Duration

	mu         sync.Mutex // one upload at a time
	generation int64
	sha        string
	db         *sql.DB
	paired     func() bool
	trigger    chan struct{}
	uploaded   fingerprint
}

type snapshotMeta struct {
	Generation int64  `json:"generation"`
	SHA256     string `json:"sha256"`
}

type fingerprint struct {
	size, walSize   int64
	mtime, walMtime time.Time
}

func newSnapshots(gw *gateway.Client, log *logx.Logger, dataDir string, debounce, maxDelay time.Duration) *snapshots {
	return &snapshots{
		gw: gw, log: log, debounce: debounce, maxDelay: maxDelay,
		dbPath:   filepath.Join(dataDir, "whatsmeow.db"),
		metaPath: filepath.Join(dataDir, "snapshot.json"),
		trigger:  make(chan struct{}, 1),
	}
}

func (s *snapshots) readMeta() snapshotMeta {
	var meta snapshotMeta
	if raw, err := os.ReadFile(s.metaPath); err == nil {
		_ = json.Unmarshal(raw, &meta)
	}
	return meta
}

func (s *snapshots) writeMeta() error {
	raw, _ := json.Marshal(snapshotMeta{Generation: s.generation, SHA256: s.sha})
	return spool.WriteAtomic(s.metaPath, raw)
}

func (s *snapshots) removeLocal() error {
	for _, suffix := range []string{"", "-wal", "-shm", "-journal"} {
		if err := os.Remove(s.dbPath + suffix); err != nil && !errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("remove %s: %w", s.dbPath+suffix, err)
		}
	}
	return nil
}

// Restore makes the local database the session the state store holds. Errors are worth retrying.
func (s *snapshots) Restore(ctx context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	snap, err := s.gw.GetSnapshot(ctx, SnapshotName)
	_, statErr := os.Stat(s.dbPath)
	localExists := statErr == nil
	meta := s.readMeta()
	switch {
	case errors.Is(err, gateway.ErrSnapshotNotFound):
		// Never written: a new instance, or one killed between pairing and its first snapshot (then the local file
		// is the session, and the next snapshot uploads it).
		s.generation, s.sha = 0, ""
		if localExists {
			s.log.Info("no session snapshot in the state store; keeping the local session database")
		}
		return nil
	case err != nil:
		return err
	case len(snap.Content) == 0:
		s.log.Info("the state store holds no session (logged out)", "generation", snap.Generation)
		if err := s.removeLocal(); err != nil {
			return err
		}
		s.generation, s.sha = snap.Generation, snap.SHA256
		return s.writeMeta()
	case !bytes.HasPrefix(snap.Content, sqliteHeader):
		s.log.Error("the session snapshot is not a SQLite database; ignoring it", "generation", snap.Generation)
		s.generation, s.sha = snap.Generation, snap.SHA256
		return nil
	case localExists && meta.Generation == snap.Generation:
		s.log.Info("local session database is current", "generation", snap.Generation)
		s.generation, s.sha = snap.Generation, meta.SHA256
		return nil
	}
	if err := s.removeLocal(); err != nil {
		return err
	}
	tmp := s.dbPath + ".restore"
	if err := spool.WriteAtomic(tmp, snap.Content); err != nil {
		return err
	}
	if err := os.Rename(tmp, s.dbPath); err != nil {
		return fmt.Errorf("restore session: %w", err)
	}
	s.generation, s.sha = snap.Generation, snap.SHA256
	s.log.Info("session restored from the state store", "generation", snap.Generation, "bytes", len(snap.Content))
	return s.writeMeta()
}

// Attach starts watching an open database.
func (s *snapshots) Attach(db *sql.DB, paired func() bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.db, s.paired = db, paired
	s.uploaded = s.fingerprint()
}

func (s *snapshots) fingerprint() fingerprint {
	var f fingerprint
	if info, err := os.Stat(s.dbPath); err == nil {
		f.size, f.mtime = info.Size(), info.ModTime()
	}
	if info, err := os.Stat(s.dbPath + "-wal"); err == nil {
		f.walSize, f.walMtime = info.Size(), info.ModTime()
	}
	return f
}

// Trigger asks for an upload now (after pairing).
func (s *snapshots) Trigger() {
	select {
	case s.trigger <- struct{}{}:
	default:
	}
}

// Run uploads after changes, debounced, until ctx ends.
func (s *snapshots) Run(ctx context.Context) {
	tick := time.NewTicker(min(time.Second, s.debounce))
	defer tick.Stop()
	var firstChange, lastChange time.Time
	var last fingerprint
	for {
		now := time.Now()
		select {
		case <-ctx.Done():
			return
		case <-s.trigger:
			if err := s.Upload(ctx, "paired"); err != nil {
				s.log.Warn("session snapshot failed, will retry", "error", err)
				firstChange, lastChange = now, now
			} else {
				firstChange = time.Time{}
			}
			continue
		case <-tick.C:
		}
		s.mu.Lock()
		current, uploaded := s.fingerprint(), s.uploaded
		s.mu.Unlock()
		if current == uploaded {
			firstChange = time.Time{}
			continue
		}
		if current != last {
			last, lastChange = current, now
			if firstChange.IsZero() {
				firstChange = now
			}
		}
		if now.Sub(lastChange) < s.debounce && now.Sub(firstChange) < s.maxDelay {
			continue
		}
		if err := s.Upload(ctx, "changed"); err != nil {
			if !errors.Is(err, gateway.ErrSuperseded) {
				s.log.Warn("session snapshot failed, will retry", "error", err)
			}
			lastChange = now // retry after another debounce interval
		} else {
			firstChange = time.Time{}
		}
	}
}

// Upload writes the database as a new generation when the device is paired and the content changed.
func (s *snapshots) Upload(ctx context.Context, reason string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.db == nil || s.paired == nil || !s.paired() {
		return nil
	}
	before := s.fingerprint()
	// VACUUM INTO writes a consistent copy of a live database (WAL included) without blocking writers for long.
	tmp := s.dbPath + ".snapshot"
	_ = os.Remove(tmp)
	if _, err := s.db.ExecContext(ctx, "VACUUM INTO ?", tmp); err != nil {
		return fmt.Errorf("copy the session database: %w", err)
	}
	content, err := os.ReadFile(tmp)
	_ = os.Remove(tmp)
	if err != nil {
		return fmt.Errorf("read the session copy: %w", err)
	}
	sum := sha256.Sum256(content)
	digest := hex.EncodeToString(sum[:])
	if digest == s.sha {
		s.uploaded = before
		return nil
	}
	generation, err := s.gw.PutSnapshot(ctx, SnapshotName, content, s.generation)
	if errors.Is(err, gateway.ErrGenerationConflict) {
		// Our last write went through but its answer was lost (only this epoch may write): learn the generation.
		current, getErr := s.gw.GetSnapshot(ctx, SnapshotName)
		if getErr != nil {
			return fmt.Errorf("snapshot conflict, then: %w", getErr)
		}
		generation, err = s.gw.PutSnapshot(ctx, SnapshotName, content, current.Generation)
	}
	if err != nil {
		return err
	}
	s.generation, s.sha, s.uploaded = generation, digest, before
	s.log.Info("session snapshot stored", "generation", generation, "bytes", len(content), "reason", reason)
	return s.writeMeta()
}

// Forget wipes the session from the state store: key-value state cleared and a tombstone snapshot written.
func (s *snapshots) Forget(ctx context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, err := s.gw.State(ctx, gateway.StateBatch{Clear: true}); err != nil {
		return err
	}
	generation, err := s.gw.PutSnapshot(ctx, SnapshotName, nil, s.generation)
	if errors.Is(err, gateway.ErrGenerationConflict) {
		current, getErr := s.gw.GetSnapshot(ctx, SnapshotName)
		if getErr != nil {
			return getErr
		}
		generation, err = s.gw.PutSnapshot(ctx, SnapshotName, nil, current.Generation)
	}
	if err != nil {
		return err
	}
	sum := sha256.Sum256(nil)
	s.generation, s.sha = generation, hex.EncodeToString(sum[:])
	return s.writeMeta()
}
