// Package gateway calls the control plane's internal API for this instance: events, the state store and snapshots
// (docs/worker-protocol.md §2, §6, §7).
//
// Every call goes through Client.do, so the fencing rule holds everywhere: the first `409 epoch_superseded` marks
// the client superseded and tells the worker, and every later call fails without touching the network.
package gateway

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// ErrSuperseded means a newer worker owns this instance: stop at once.
var ErrSuperseded = errors.New("epoch superseded: a newer worker owns this instance")

// Unavailable is a call without a usable answer: unreachable, timed out, 5xx, or an unexpected status.
type Unavailable struct {
	Status int
	Code   string
	Detail string
}

func (e *Unavailable) Error() string {
	if e.Status == 0 {
		return "gateway unreachable: " + e.Detail
	}
	return fmt.Sprintf("gateway answered %d %s %s", e.Status, e.Code, e.Detail)
}

// Client is safe for concurrent use.
type Client struct {
	base         string
	token        string
	epoch        string
	http         *http.Client
	superseded   atomic.Bool
	onSuperseded func()
	once         sync.Once
}

// New makes a client for one instance; onSuperseded runs once, on the first `409 epoch_superseded`.
func New(gatewayURL, instanceID, token string, epoch int, userAgent string, onSuperseded func()) *Client {
	transport := &http.Transport{
		Proxy:               nil, // the control plane is reached directly, never through an egress proxy
		DialContext:         (&net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		MaxIdleConnsPerHost: 4,
		// Servers close idle keep-alive connections (uvicorn after 5 s); a request written into one that is
		// closing is lost in a race, so never reuse one that old.
		IdleConnTimeout:       3 * time.Second,
		ResponseHeaderTimeout: 60 * time.Second,
	}
	return &Client{
		base:         gatewayURL + "/internal/v1/instances/" + url.PathEscape(instanceID),
		token:        token,
		epoch:        strconv.Itoa(epoch),
		http:         &http.Client{Transport: roundTripper{transport, userAgent}},
		onSuperseded: onSuperseded,
	}
}

type roundTripper struct {
	inner     http.RoundTripper
	userAgent string
}

func (r roundTripper) RoundTrip(req *http.Request) (*http.Response, error) {
	req.Header.Set("User-Agent", r.userAgent)
	return r.inner.RoundTrip(req)
}

// Superseded reports whether a newer epoch owns the instance.
func (c *Client) Superseded() bool { return c.superseded.Load() }

// Close drops idle connections.
func (c *Client) Close() { c.http.CloseIdleConnections() }

type answer struct {
	status int
	header http.Header
	body   []byte
}

func (a answer) problem() (code, detail string) {
	var doc struct {
		Code   string `json:"code"`
		Detail string `json:"detail"`
	}
	_ = json.Unmarshal(a.body, &doc)
	if doc.Detail == "" && len(a.body) > 0 && doc.Code == "" {
		doc.Detail = string(a.body[:min(len(a.body), 200)])
	}
	return doc.Code, doc.Detail
}

func (c *Client) do(ctx context.Context, method, path string, body []byte, header http.Header, limit time.Duration) (answer, error) {
	if c.superseded.Load() {
		return answer{}, ErrSuperseded
	}
	ctx, cancel := context.WithTimeout(ctx, limit)
	defer cancel()
	var reader io.Reader
	if body != nil {
		reader = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, reader)
	if err != nil {
		return answer{}, fmt.Errorf("gateway: build request: %w", err)
	}
	for key, values := range header {
		req.Header[key] = values
	}
	req.Header.Set("Authorization", "Bearer "+c.token)
	req.Header.Set("X-Worker-Epoch", c.epoch)
	resp, err := c.http.Do(req)
	if err != nil {
		return answer{}, &Unavailable{Detail: err.Error()}
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return answer{}, &Unavailable{Detail: "reading the answer: " + err.Error()}
	}
	if c.superseded.Load() {
		return answer{}, ErrSuperseded // another call saw the fence while this one was in flight
	}
	a := answer{status: resp.StatusCode, header: resp.Header, body: data}
	if a.status == http.StatusConflict {
		if code, _ := a.problem(); code == "epoch_superseded" {
			c.superseded.Store(true)
			c.once.Do(c.onSuperseded)
			return a, ErrSuperseded
		}
	}
	return a, nil
}

func (c *Client) unexpected(a answer) error {
	code, detail := a.problem()
	return &Unavailable{Status: a.status, Code: code, Detail: detail}
}

// PostEvents delivers one batch; nil means the gateway has every event in it (200).
func (c *Client) PostEvents(ctx context.Context, events []json.RawMessage) error {
	body, err := json.Marshal(map[string]any{"events": events})
	if err != nil {
		return fmt.Errorf("gateway: encode events: %w", err)
	}
	header := http.Header{"Content-Type": {"application/json"}}
	a, err := c.do(ctx, http.MethodPost, "/events", body, header, 30*time.Second)
	if err != nil {
		return err
	}
	if a.status != http.StatusOK {
		return c.unexpected(a)
	}
	return nil
}

// StateBatch is one key-value batch (§7).
type StateBatch struct {
	Get    []string          `json:"get,omitempty"`
	Put    map[string]string `json:"put,omitempty"`
	Delete []string          `json:"delete,omitempty"`
	Clear  bool              `json:"clear,omitempty"`
}

// State applies one key-value batch and returns the values it read (nil for absent keys).
func (c *Client) State(ctx context.Context, batch StateBatch) (map[string]*string, error) {
	body, err := json.Marshal(batch)
	if err != nil {
		return nil, fmt.Errorf("gateway: encode state batch: %w", err)
	}
	a, err := c.do(ctx, http.MethodPost, "/state", body, http.Header{"Content-Type": {"application/json"}}, 30*time.Second)
	if err != nil {
		return nil, err
	}
	if a.status != http.StatusOK {
		return nil, c.unexpected(a)
	}
	var decoded struct {
		Values map[string]*string `json:"values"`
	}
	if err := json.Unmarshal(a.body, &decoded); err != nil {
		return nil, &Unavailable{Status: a.status, Detail: "state answer is not JSON"}
	}
	return decoded.Values, nil
}

// Snapshot is one generation of a named blob.
type Snapshot struct {
	Content    []byte
	SHA256     string
	Generation int64
}

// ErrSnapshotNotFound is a snapshot that was never written.
var ErrSnapshotNotFound = errors.New("snapshot not found")

// ErrGenerationConflict is a snapshot write based on an old generation.
var ErrGenerationConflict = errors.New("snapshot generation conflict")

// GetSnapshot reads the newest generation and checks its hash.
func (c *Client) GetSnapshot(ctx context.Context, name string) (*Snapshot, error) {
	a, err := c.do(ctx, http.MethodGet, "/snapshots/"+url.PathEscape(name), nil, nil, 120*time.Second)
	if err != nil {
		return nil, err
	}
	if a.status == http.StatusNotFound {
		return nil, ErrSnapshotNotFound
	}
	if a.status != http.StatusOK {
		return nil, c.unexpected(a)
	}
	generation, err := strconv.ParseInt(a.header.Get("X-Generation"), 10, 64)
	if err != nil {
		return nil, &Unavailable{Status: a.status, Detail: "snapshot without a numeric X-Generation"}
	}
	sum := sha256.Sum256(a.body)
	actual := hex.EncodeToString(sum[:])
	if claimed := strings.ToLower(a.header.Get("X-Content-SHA256")); claimed != actual {
		return nil, &Unavailable{Status: a.status, Detail: "snapshot bytes do not match X-Content-SHA256"}
	}
	return &Snapshot{Content: a.body, SHA256: actual, Generation: generation}, nil
}

// PutSnapshot writes a new generation on top of `basedOn` (0: none) and returns the new generation.
func (c *Client) PutSnapshot(ctx context.Context, name string, content []byte, basedOn int64) (int64, error) {
	sum := sha256.Sum256(content)
	header := http.Header{
		"Content-Type":     {"application/octet-stream"},
		"X-Content-Sha256": {hex.EncodeToString(sum[:])},
		"If-Match":         {strconv.FormatInt(basedOn, 10)},
	}
	a, err := c.do(ctx, http.MethodPut, "/snapshots/"+url.PathEscape(name), content, header, 120*time.Second)
	if err != nil {
		return 0, err
	}
	if a.status == http.StatusPreconditionFailed {
		return 0, ErrGenerationConflict
	}
	if a.status != http.StatusCreated && a.status != http.StatusOK {
		return 0, c.unexpected(a)
	}
	var decoded struct {
		Generation int64 `json:"generation"`
	}
	if err := json.Unmarshal(a.body, &decoded); err != nil || decoded.Generation < 1 {
		return 0, &Unavailable{Status: a.status, Detail: "snapshot answer without a generation"}
	}
	return decoded.Generation, nil
}
