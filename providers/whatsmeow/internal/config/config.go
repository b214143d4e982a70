// Package config reads the worker's start-up environment (docs/worker-protocol.md §1).
package config

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net"
	"os"
	"strconv"
	"strings"
	"time"
)

// Config is everything the environment tells the worker.
type Config struct {
	InstanceID string
	Epoch      int
	Token      string
	GatewayURL string
	Listen     string
	DataDir    string
	LogLevel   string
	Provider   ProviderConfig
}

// ProviderConfig holds the PROVIDER_CONFIG settings; each has a production default.
type ProviderConfig struct {
	// Reconnect backoff: doubles from ReconnectMin up to ReconnectMax while WhatsApp cannot be reached.
	ReconnectMin time.Duration
	ReconnectMax time.Duration
	// Snapshots of the session database go to the state store once it has been quiet for SnapshotDebounce after a
	// change, and at the latest SnapshotMaxDelay after the first unsaved change.
	SnapshotDebounce time.Duration
	SnapshotMaxDelay time.Duration
	// How long the start-up check for the current WhatsApp Web version may take (0 skips it).
	VersionCheckTimeout time.Duration
	// The name the phone shows for this linked device ("Linked devices").
	DeviceName string
	// "derived": WhatsApp message ids derived from the client's id in WhatsApp Web's shape; "client": the client's
	// id itself.
	MessageIDMode string
}

// Error is a configuration the worker cannot start with; restarting with the same environment cannot help.
type Error struct{ msg string }

func (e *Error) Error() string { return e.msg }

func fail(format string, args ...any) error { return &Error{fmt.Sprintf(format, args...)} }

// FromEnv reads the configuration from a lookup function (os.LookupEnv in production).
func FromEnv(lookup func(string) (string, bool)) (*Config, error) {
	get := func(name string) string { v, _ := lookup(name); return strings.TrimSpace(v) }
	var missing []string
	for _, name := range []string{"INSTANCE_ID", "WORKER_EPOCH", "WORKER_TOKEN", "GATEWAY_URL", "DATA_DIR"} {
		if get(name) == "" {
			missing = append(missing, name)
		}
	}
	if len(missing) > 0 {
		return nil, fail("missing environment: %s", strings.Join(missing, ", "))
	}
	epoch, err := strconv.Atoi(get("WORKER_EPOCH"))
	if err != nil || epoch < 1 {
		return nil, fail("WORKER_EPOCH must be a positive integer")
	}
	gatewayURL := strings.TrimRight(get("GATEWAY_URL"), "/")
	if !strings.HasPrefix(gatewayURL, "http://") && !strings.HasPrefix(gatewayURL, "https://") {
		return nil, fail("GATEWAY_URL must be an http:// or https:// URL")
	}
	listen := get("LISTEN")
	if listen == "" {
		listen = "127.0.0.1:0"
	}
	if _, port, err := net.SplitHostPort(listen); err != nil || port == "" {
		return nil, fail("LISTEN must be host:port, not %q", listen)
	}
	level := strings.ToLower(get("LOG_LEVEL"))
	if level == "" {
		level = "info"
	}
	raw := get("PROVIDER_CONFIG")
	if raw == "" {
		raw = "{}"
	}
	provider, err := parseProviderConfig([]byte(raw))
	if err != nil {
		return nil, err
	}
	return &Config{
		InstanceID: get("INSTANCE_ID"),
		Epoch:      epoch,
		Token:      get("WORKER_TOKEN"),
		GatewayURL: gatewayURL,
		Listen:     listen,
		DataDir:    get("DATA_DIR"),
		LogLevel:   level,
		Provider:   provider,
	}, nil
}

// FromProcess reads the real environment.
func FromProcess() (*Config, error) { return FromEnv(os.LookupEnv) }

// DefaultProviderConfig is what an empty PROVIDER_CONFIG means.
func DefaultProviderConfig() ProviderConfig {
	return ProviderConfig{
		ReconnectMin:        time.Second,
		ReconnectMax:        60 * time.Second,
		SnapshotDebounce:    5 * time.Second,
		SnapshotMaxDelay:    30 * time.Second,
		VersionCheckTimeout: 5 * time.Second,
		DeviceName:          "WhatsApp Gateway",
		MessageIDMode:       "derived",
	}
}

func parseProviderConfig(raw []byte) (ProviderConfig, error) {
	cfg := DefaultProviderConfig()
	var values map[string]any
	if err := json.Unmarshal(raw, &values); err != nil || values == nil {
		return cfg, fail("PROVIDER_CONFIG must be a JSON object")
	}
	durations := []struct {
		key       string
		target    *time.Duration
		allowZero bool
	}{
		{"reconnect_min_seconds", &cfg.ReconnectMin, false},
		{"reconnect_max_seconds", &cfg.ReconnectMax, false},
		{"snapshot_debounce_seconds", &cfg.SnapshotDebounce, false},
		{"snapshot_max_delay_seconds", &cfg.SnapshotMaxDelay, false},
		{"version_check_timeout_seconds", &cfg.VersionCheckTimeout, true},
	}
	for _, d := range durations {
		value, ok := values[d.key]
		if !ok {
			continue
		}
		seconds, isNumber := value.(float64)
		if !isNumber || math.IsNaN(seconds) || seconds < 0 || (seconds == 0 && !d.allowZero) || seconds > 86400 {
			return cfg, fail("PROVIDER_CONFIG.%s must be a positive number of seconds", d.key)
		}
		*d.target = time.Duration(seconds * float64(time.Second))
	}
	if cfg.ReconnectMax < cfg.ReconnectMin {
		return cfg, fail("PROVIDER_CONFIG.reconnect_max_seconds must not be below reconnect_min_seconds")
	}
	if cfg.SnapshotMaxDelay < cfg.SnapshotDebounce {
		cfg.SnapshotMaxDelay = cfg.SnapshotDebounce
	}
	if value, ok := values["device_name"]; ok {
		name, isString := value.(string)
		if !isString || strings.TrimSpace(name) == "" || len(name) > 50 {
			return cfg, fail("PROVIDER_CONFIG.device_name must be a non-empty string of at most 50 characters")
		}
		cfg.DeviceName = name
	}
	if value, ok := values["message_id_mode"]; ok {
		mode, _ := value.(string)
		if mode != "derived" && mode != "client" {
			return cfg, fail(`PROVIDER_CONFIG.message_id_mode must be "derived" or "client"`)
		}
		cfg.MessageIDMode = mode
	}
	return cfg, nil
}

// IsConfigError tells configuration errors from others.
func IsConfigError(err error) bool {
	var e *Error
	return errors.As(err, &e)
}
