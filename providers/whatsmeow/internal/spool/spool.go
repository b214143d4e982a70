// Package spool is the on-disk event spool (docs/worker-protocol.md §6): events survive until the gateway has them.
//
// Layout, in its directory:
//   - events-<generation>.jsonl: one event a line, appended and fsync'ed before anyone tries to deliver it;
//   - cursor.json: {"generation", "offset"}, the byte offset up to which that generation's file is delivered,
//     replaced atomically (write, fsync, rename, fsync the directory).
//
// Acknowledging a batch is one small atomic write, not a rewrite. Compaction starts a new generation: empty once
// everything is delivered, or a copy of the undelivered tail once the delivered head outgrows both CompactBytes and
// the tail. The cursor names the generation, so a crash at any point leaves either the old file and cursor or the new
// ones; files of other generations are leftovers and are deleted on open. A crash mid-append leaves a last line
// without its newline, which is cut off on open (that append never returned, so nobody relied on it).
package spool

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
)

const (
	CompactBytes = 1 << 20
	// One delivery request stays well below any sane body limit on the gateway, whatever the events hold.
	MaxBatchBytes = 4 << 20
	cursorName    = "cursor.json"
)

// Batch is a run of undelivered events, oldest first.
type Batch struct {
	Events     []json.RawMessage
	generation int
	end        int64 // byte offset just past the batch's last line
	skipped    int   // unreadable lines in the batch's range (never delivered)
}

// Empty reports whether the batch has nothing to deliver or drop.
func (b Batch) Empty() bool { return len(b.Events) == 0 && b.skipped == 0 }

// Spool is safe for concurrent use.
type Spool struct {
	mu         sync.Mutex
	dir        string
	generation int
	offset     int64
	size       int64
	pending    int
	file       *os.File
	warn       func(msg string, fields ...any)
}

// Open opens (or creates) the spool in dir; warn receives recoverable oddities found on disk.
func Open(dir string, warn func(msg string, fields ...any)) (*Spool, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("spool: create %s: %w", dir, err)
	}
	s := &Spool{dir: dir, warn: warn}
	if err := s.readCursor(); err != nil {
		return nil, err
	}
	s.removeOtherGenerations()
	if err := s.recover(); err != nil {
		return nil, err
	}
	file, err := os.OpenFile(s.path(s.generation), os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("spool: open for append: %w", err)
	}
	s.file = file
	return s, nil
}

// Len is the number of events spooled and not yet acknowledged.
func (s *Spool) Len() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.pending
}

// Close releases the append handle.
func (s *Spool) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.file.Close()
}

// Append durably adds events made by `build`, which runs under the spool's lock so that whatever order it stamps
// (timestamps) is the order of the file. Returns only once they are on disk.
func (s *Spool) Append(build func() ([]json.RawMessage, error)) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	events, err := build()
	if err != nil || len(events) == 0 {
		return err
	}
	var buf bytes.Buffer
	for _, event := range events {
		if bytes.ContainsAny(event, "\n") {
			return errors.New("spool: an event with a raw newline")
		}
		buf.Write(event)
		buf.WriteByte('\n')
	}
	if _, err := s.file.Write(buf.Bytes()); err != nil {
		s.truncateTo(s.size)
		return fmt.Errorf("spool: append: %w", err)
	}
	if err := s.file.Sync(); err != nil {
		// Never leave half a line behind: the next append would glue a valid event onto it.
		s.truncateTo(s.size)
		return fmt.Errorf("spool: fsync: %w", err)
	}
	s.size += int64(buf.Len())
	s.pending += len(events)
	return nil
}

func (s *Spool) truncateTo(size int64) {
	if err := os.Truncate(s.path(s.generation), size); err != nil {
		s.warn("spool: could not cut a failed append", "error", err)
	}
}

// Peek returns up to `limit` undelivered events from the oldest, without removing them.
func (s *Spool) Peek(limit int) (Batch, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	batch := Batch{generation: s.generation, end: s.offset}
	if s.offset >= s.size {
		return batch, nil
	}
	file, err := os.Open(s.path(s.generation))
	if err != nil {
		return batch, fmt.Errorf("spool: read: %w", err)
	}
	defer file.Close()
	if _, err := file.Seek(s.offset, io.SeekStart); err != nil {
		return batch, fmt.Errorf("spool: seek: %w", err)
	}
	reader := bufio.NewReader(io.LimitReader(file, s.size-s.offset))
	batchBytes := 0
	for len(batch.Events) < limit {
		line, err := reader.ReadBytes('\n')
		if err != nil { // EOF, or a line still being written
			break
		}
		if len(batch.Events) > 0 && batchBytes+len(line) > MaxBatchBytes {
			break
		}
		batch.end += int64(len(line))
		event := bytes.TrimSuffix(line, []byte("\n"))
		if !isObject(event) {
			batch.skipped++
			s.warn("spool: skipping an unreadable event", "generation", s.generation)
			continue
		}
		batch.Events = append(batch.Events, json.RawMessage(event))
		batchBytes += len(line)
	}
	return batch, nil
}

// Ack drops a delivered batch for good, compacting when it pays.
func (s *Spool) Ack(batch Batch) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if batch.generation != s.generation || batch.end <= s.offset {
		return nil
	}
	s.pending -= len(batch.Events)
	if s.pending < 0 {
		s.pending = 0
	}
	switch {
	case batch.end >= s.size:
		return s.startGeneration(nil)
	case batch.end >= CompactBytes && batch.end >= s.size-batch.end:
		tail := make([]byte, s.size-batch.end)
		file, err := os.Open(s.path(s.generation))
		if err != nil {
			return fmt.Errorf("spool: compact: %w", err)
		}
		_, err = file.ReadAt(tail, batch.end)
		file.Close()
		if err != nil {
			return fmt.Errorf("spool: compact: %w", err)
		}
		return s.startGeneration(tail)
	default:
		if err := s.writeCursor(s.generation, batch.end); err != nil {
			return err
		}
		s.offset = batch.end
		return nil
	}
}

func (s *Spool) path(generation int) string {
	return filepath.Join(s.dir, fmt.Sprintf("events-%08d.jsonl", generation))
}

func (s *Spool) generations() []int {
	entries, _ := os.ReadDir(s.dir)
	var found []int
	for _, entry := range entries {
		name := entry.Name()
		if !strings.HasPrefix(name, "events-") || !strings.HasSuffix(name, ".jsonl") {
			continue
		}
		if n, err := strconv.Atoi(strings.TrimSuffix(strings.TrimPrefix(name, "events-"), ".jsonl")); err == nil {
			found = append(found, n)
		}
	}
	sort.Ints(found)
	return found
}

func (s *Spool) readCursor() error {
	raw, err := os.ReadFile(filepath.Join(s.dir, cursorName))
	if err == nil {
		var cursor struct {
			Generation int   `json:"generation"`
			Offset     int64 `json:"offset"`
		}
		if json.Unmarshal(raw, &cursor) == nil && cursor.Generation >= 1 && cursor.Offset >= 0 {
			s.generation, s.offset = cursor.Generation, cursor.Offset
			return nil
		}
		s.warn("spool: unreadable cursor, re-delivering from the oldest file")
	} else if !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("spool: read cursor: %w", err)
	}
	// Without a cursor the oldest file is the safe start: a compacted generation only ever copies the tail of the one
	// before it, so the oldest holds everything (re-delivered events are de-duplicated by the gateway).
	s.generation, s.offset = 1, 0
	if found := s.generations(); len(found) > 0 {
		s.generation = found[0]
	}
	if err := touch(s.path(s.generation)); err != nil {
		return err
	}
	return s.writeCursor(s.generation, 0)
}

func (s *Spool) removeOtherGenerations() {
	for _, generation := range s.generations() {
		if generation != s.generation {
			_ = os.Remove(s.path(generation))
		}
	}
	_ = os.Remove(filepath.Join(s.dir, cursorName+".tmp"))
}

// recover counts undelivered events and cuts off a torn last line.
func (s *Spool) recover() error {
	path := s.path(s.generation)
	if err := touch(path); err != nil {
		return err
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("spool: read: %w", err)
	}
	size := int64(len(data))
	if s.offset > size {
		s.warn("spool: cursor past the end of its file, re-delivering the file")
		s.offset = 0
		if err := s.writeCursor(s.generation, 0); err != nil {
			return err
		}
	}
	goodEnd := s.offset
	rest := data[s.offset:]
	for len(rest) > 0 {
		i := bytes.IndexByte(rest, '\n')
		if i < 0 {
			break
		}
		if isObject(rest[:i]) {
			s.pending++
		}
		goodEnd += int64(i + 1)
		rest = rest[i+1:]
	}
	if goodEnd < size {
		s.warn("spool: dropping a torn last line", "bytes", size-goodEnd)
		if err := os.Truncate(path, goodEnd); err != nil {
			return fmt.Errorf("spool: cut torn line: %w", err)
		}
	}
	s.size = goodEnd
	return nil
}

func (s *Spool) writeCursor(generation int, offset int64) error {
	data, _ := json.Marshal(map[string]int64{"generation": int64(generation), "offset": offset})
	return writeAtomic(filepath.Join(s.dir, cursorName), data)
}

func (s *Spool) startGeneration(content []byte) error {
	old, next := s.generation, s.generation+1
	if err := writeSynced(s.path(next), content); err != nil {
		return err
	}
	if err := s.writeCursor(next, 0); err != nil {
		return err
	}
	file, err := os.OpenFile(s.path(next), os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
	if err != nil {
		return fmt.Errorf("spool: open new generation: %w", err)
	}
	_ = s.file.Close()
	s.file = file
	s.generation, s.offset, s.size = next, 0, int64(len(content))
	_ = os.Remove(s.path(old))
	return nil
}

func isObject(line []byte) bool {
	var value map[string]json.RawMessage
	return json.Unmarshal(line, &value) == nil && value != nil
}

func touch(path string) error {
	file, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE, 0o600)
	if err != nil {
		return fmt.Errorf("spool: create %s: %w", path, err)
	}
	return file.Close()
}

func writeSynced(path string, data []byte) error {
	file, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if _, err = file.Write(data); err == nil {
		err = file.Sync()
	}
	if closeErr := file.Close(); err == nil {
		err = closeErr
	}
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}

// writeAtomic replaces path with data: write a temporary file, fsync, rename, fsync the directory.
func writeAtomic(path string, data []byte) error {
	tmp := path + ".tmp"
	if err := writeSynced(tmp, data); err != nil {
		return err
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("rename %s: %w", tmp, err)
	}
	return SyncDir(filepath.Dir(path))
}

// WriteAtomic is writeAtomic for other packages that keep small durable files.
func WriteAtomic(path string, data []byte) error { return writeAtomic(path, data) }

// SyncDir fsyncs a directory so that a rename in it survives a crash.
func SyncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("sync %s: %w", dir, err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("sync %s: %w", dir, err)
	}
	return nil
}
